"""The sweep's view of the broker server: the epoch says "all data lost", the marker says "another server
(a promoted replica) since the last marker it holds", and from when jobs may have lost their message."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis

from platform_jobs.jobs import broker_identity
from platform_jobs.jobs.broker_identity import PUBLISH_MARGIN, BrokerState

MARKED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_same_server_asks_for_nothing() -> None:
    assert BrokerState(False, "a", "a", MARKED).lost_since() is None


def test_another_server_asks_for_the_jobs_published_since_its_last_marker_less_the_margin() -> None:
    state = BrokerState(False, "b", "a", MARKED)
    assert state.server_changed
    assert state.lost_since() == MARKED - PUBLISH_MARGIN


def test_a_reset_broker_or_a_first_sweep_is_left_to_the_epoch() -> None:
    assert BrokerState(True, "b", None, None).lost_since() is None  # everything is republished anyway
    assert BrokerState(False, "b", None, None).lost_since() is None  # the first sweep of this release
    assert BrokerState(False, None, "a", MARKED).lost_since() is None  # INFO refused: no identity


def test_read_sets_the_epoch_once_and_parses_the_marker_even_where_info_is_refused() -> None:
    client = fakeredis.FakeRedis()  # fakeredis has no INFO, like a Redis whose INFO is renamed
    first = broker_identity.read(client)
    assert (first.was_reset, first.run_id, first.previous_run_id) == (True, None, None)
    broker_identity.mark(client, "run-a", MARKED)
    second = broker_identity.read(client)
    assert (second.was_reset, second.previous_run_id, second.marked_at) == (False, "run-a", MARKED)
