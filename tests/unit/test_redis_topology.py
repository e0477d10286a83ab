"""REDIS_URL as each Redis client of the platform sees it: a plain redis:// URL passes through untouched; a
Sentinel list (``sentinel://...;sentinel://...``, as Celery/kombu spell it) becomes kombu's transport
options, RedBeat's ``redis-sentinel://`` options and limits' ``redis+sentinel://`` storage."""

from __future__ import annotations

from kombu import Connection

from platform_jobs import redis_topology
from platform_jobs.celery_config import celery_config
from platform_jobs.jobs.broker import SentinelTransport, Transport, install_sentinel_alias
from platform_jobs.settings import Settings

SENTINELS = "sentinel://:master-pw@10.0.0.1:26379/2;sentinel://:master-pw@10.0.0.2:26380/2;sentinel://10.0.0.3/2"


def sentinel_settings(**more: str) -> Settings:
    return Settings.from_environ({"REDIS_URL": SENTINELS, "PJ_REDIS_SENTINEL_MASTER": "jobs-master", **more})


def test_a_plain_url_passes_through_to_every_client() -> None:
    settings = Settings.from_environ({"REDIS_URL": "redis://:pw@cache:6379/3"})
    config = celery_config(settings)
    assert config["broker_url"] == "redis://:pw@cache:6379/3"
    assert config["broker_transport"] == "platform_jobs.jobs.broker:Transport"
    assert "master_name" not in config["broker_transport_options"]
    assert (config["redbeat_redis_url"], config["redbeat_redis_options"]) == ("redis://:pw@cache:6379/3", {})
    assert redis_topology.limiter_storage(settings.broker) == ("redis://:pw@cache:6379/3", {})


def test_the_sentinel_list_is_parsed_once_with_the_master_name_and_passwords() -> None:
    topology = redis_topology.sentinel_topology(sentinel_settings(PJ_REDIS_SENTINEL_PASSWORD="s-pw").broker)
    assert topology is not None
    assert topology.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379))
    assert (topology.master, topology.db, topology.password, topology.sentinel_password) == (
        "jobs-master", 2, "master-pw", "s-pw")
    assert Settings.from_environ({"REDIS_URL": SENTINELS}).broker.sentinel_master == "mymaster"  # the default


def test_celery_gets_the_sentinel_url_our_sentinel_transport_and_the_master_name() -> None:
    config = celery_config(sentinel_settings())
    assert config["broker_url"] == SENTINELS  # a plain Celery client sets this same URL
    assert config["broker_transport"] == "platform_jobs.jobs.broker:SentinelTransport"
    options = config["broker_transport_options"]
    assert options["master_name"] == "jobs-master"
    assert options["sentinel_kwargs"]["password"] is None
    assert options["priority_steps"] == list(range(10))  # ours stay beside them


def test_redbeat_and_the_limiter_get_their_own_spelling_of_the_same_sentinels() -> None:
    settings = sentinel_settings()
    config = celery_config(settings)
    assert config["redbeat_redis_url"] == "redis-sentinel://"
    redbeat = config["redbeat_redis_options"]
    assert redbeat["sentinels"] == [("10.0.0.1", 26379), ("10.0.0.2", 26380), ("10.0.0.3", 26379)]
    assert (redbeat["service_name"], redbeat["db"], redbeat["password"]) == ("jobs-master", 2, "master-pw")
    uri, options = redis_topology.limiter_storage(settings.broker)
    assert uri == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,10.0.0.3:26379/jobs-master"
    assert (options["db"], options["password"], options["use_replicas"]) == (2, "master-pw", False)
    assert "master-pw" not in uri


def test_passwords_never_reach_messages() -> None:
    shown = redis_topology.display_url(sentinel_settings().broker)
    assert "master-pw" not in shown and shown.count("sentinel://") == 3


def test_kombu_keeps_our_sentinel_transport_when_it_switches_to_the_next_sentinel() -> None:
    """kombu takes the transport from the URL's scheme after a failover switch (Connection.switch)."""
    install_sentinel_alias()
    connection = Connection(SENTINELS, transport=redis_topology.SENTINEL_TRANSPORT)
    assert connection.get_transport_cls() is SentinelTransport
    connection.maybe_switch_next()
    assert connection.hostname == "10.0.0.2"
    assert connection.get_transport_cls() is SentinelTransport
    assert issubclass(SentinelTransport.Channel, Transport.Channel)  # the detached-transport fix
