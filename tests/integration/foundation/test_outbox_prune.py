"""The outbox's relayed events past retention are pruned in bounded batches, like the jobs themselves
(maintenance.prune_in_batches): a backlog is never one long DELETE, unrelayed and recent events stay."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, text

from platform_jobs.db import session_scope
from platform_jobs.jobs import maintenance, outbox
from platform_jobs.models import JobOutboxEvent

RETENTION = timedelta(days=30)


def _events(count: int, relayed_days_ago: float | None, marker: str) -> None:
    with session_scope() as session:
        session.execute(text(
            "INSERT INTO control_plane.job_outbox (job_id, job_type, project_id, status, attempts, relayed_at) "
            "SELECT gen_random_uuid(), :marker, gen_random_uuid(), 'completed', 1, "
            "  now() - CAST(:days AS float) * interval '1 day' FROM generate_series(1, :count)"),
            {"marker": marker, "days": relayed_days_ago, "count": count})


def _left(marker: str) -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(JobOutboxEvent)
                                  .where(JobOutboxEvent.job_type == marker)) or 0)


def test_relayed_events_past_retention_go_in_batches_and_the_rest_stays() -> None:
    tag = uuid.uuid4().hex[:12]
    old, recent, unrelayed = f"old-{tag}", f"recent-{tag}", f"unrelayed-{tag}"
    _events(250, 40, old)
    _events(20, 1, recent)
    _events(20, None, unrelayed)
    with session_scope() as session:  # one batch is bounded by its limit
        assert outbox.prune_relayed(session, RETENTION, 100) == 100
    assert _left(old) == 150
    batches: list[int] = []

    def one_batch(session, limit: int) -> int:  # type: ignore[no-untyped-def]
        batches.append(outbox.prune_relayed(session, RETENTION, limit))
        return batches[-1]

    maintenance.prune_in_batches(one_batch, 100, deadline=float("inf"))
    # 150 of ours left (other tests' old events may add to them): a full batch, then a short one ends it.
    assert batches[0] == 100 and batches[-1] < 100 and sum(batches) >= 150 and len(batches) >= 2
    assert (_left(old), _left(recent), _left(unrelayed)) == (0, 20, 20)
