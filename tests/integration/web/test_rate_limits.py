"""Each web app has its own login limiter, decided by its own config alone (web/rate_limits.py).

Flask-Limiter keeps its settings on the Limiter object; one module-level limiter for every app of a process
let an earlier app with RATELIMIT_ENABLED=False switch throttling off for every later app (the big-ledger
bench does that), and let the last app's storage count every app's logins. Both tests fail that way.
"""

from __future__ import annotations

import secrets

import redis
from flask import Flask

from tests.support.web import World, form_csrf
from tests.support.web_app import build_app


def _failed_logins(app: Flask, world: World, count: int) -> tuple[list[int], str]:
    client = app.test_client()
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    env = {"REMOTE_ADDR": address}
    statuses = []
    for _ in range(count):
        page = client.get("/login", environ_base=env)
        statuses.append(client.post("/login", data={"email": world.member_a.email, "password": "nope",
                                                    "csrf_token": form_csrf(page.text)},
                                    environ_base=env).status_code)
    return statuses, address


def test_an_app_with_the_limiter_off_does_not_switch_it_off_for_apps_made_after_it(world: World) -> None:
    unthrottled = build_app(RATELIMIT_ENABLED=False)
    throttled = build_app()
    assert _failed_logins(unthrottled, world, 7)[0] == [401] * 7
    assert _failed_logins(throttled, world, 7)[0] == [401] * 5 + [429, 429]


def test_each_app_counts_in_its_own_storage(services, world: World) -> None:
    in_redis = build_app()
    in_memory = build_app(RATELIMIT_STORAGE_URI="memory://")  # made last: it must not take over the first
    statuses, address = _failed_logins(in_redis, world, 6)
    assert statuses == [401] * 5 + [429]
    counters = redis.Redis.from_url(services.redis_url).keys("*platform_jobs:limits*")
    assert any(address.encode() in key for key in counters), counters
    # And the memory app's counter is its own: the same address starts afresh there.
    assert _failed_logins(in_memory, world, 1)[0] == [401]
