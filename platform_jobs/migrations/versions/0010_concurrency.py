"""Concurrency slots and rate limits in the ledger: flow columns on jobs, rate_limit_starts, admission

A job under a concurrency rule carries its rendered key, limit and strategy (and a round-robin group); a
job under a rate limit its rate key, limit and period. ``flow_seq`` orders the jobs of a key first come
first served (one batch's rows share ``created_at``).

``control_plane.flow_admit(key)`` is the one admission: under the key's transaction advisory lock it
releases waiting jobs into the key's free slots (``waiting_for`` 'slot' -> NULL, or -> 'rate_limit' with
``scheduled_at`` = the job's rate-limit turn). A trigger runs it in the same transaction as every final
state of a slot holder (a run's outcome, the reaper, a cancel, an exhausted claim), so a slot is never
freed without the next job being released, whatever kills what afterwards.

``control_plane.flow_rate_turn(key, limit, period, not_before)`` is the rate limit: a sliding window
over the last ``limit`` starts of the key (``rate_limit_starts``): a job's turn is the later of now and
the ``limit``-th latest start + period, so no window of ``period`` seconds holds more than ``limit``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "control_plane"
STRATEGIES = "('queue', 'round_robin', 'supersede', 'cancel_in_progress')"
# A slot holder: released to the broker (or waiting for its rate-limit turn with its slot), or running.
HOLDS = "status IN ('pending', 'running') AND (waiting_for IS NULL OR waiting_for = 'rate_limit')"

RATE_TURN = f"""
CREATE FUNCTION {SCHEMA}.flow_rate_turn(p_key text, p_limit integer, p_period double precision,
                                        p_not_before timestamptz) RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    span interval := make_interval(secs => p_period);
    window_start timestamptz;
    turn timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('rate:' || p_key, 0));
    SELECT at INTO window_start FROM {SCHEMA}.rate_limit_starts
    WHERE key = p_key ORDER BY at DESC OFFSET p_limit - 1 LIMIT 1;
    turn := greatest(now(), p_not_before, window_start + span);
    -- Starts older than one period before now can no longer share a window with any new turn.
    DELETE FROM {SCHEMA}.rate_limit_starts WHERE key = p_key AND at <= now() - span;
    INSERT INTO {SCHEMA}.rate_limit_starts (key, at) VALUES (p_key, turn);
    RETURN turn;
END $$
"""

ADMIT = f"""
CREATE FUNCTION {SCHEMA}.flow_admit(p_key text) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE
    candidate record;
    held integer;
    turn timestamptz;
    fair boolean;
    skipped uuid[] := '{{}}';
BEGIN
    -- Every change of a key's holders happens under this lock, or makes a job final (whose trigger
    -- takes it before the commit): each statement below sees every committed change.
    PERFORM pg_advisory_xact_lock(hashtextextended('slot:' || p_key, 0));
    LOOP
        SELECT count(*) INTO held FROM {SCHEMA}.jobs WHERE concurrency_key = p_key AND {HOLDS};
        SELECT concurrency_strategy = 'round_robin' INTO fair FROM {SCHEMA}.jobs
        WHERE concurrency_key = p_key AND status = 'pending' AND waiting_for = 'slot'
          AND (scheduled_at IS NULL OR scheduled_at <= now()) AND id <> ALL (skipped)
        ORDER BY priority, flow_seq LIMIT 1;
        EXIT WHEN NOT FOUND;
        IF fair THEN
            -- Round robin: the head of each group; the group holding the fewest slots goes first.
            SELECT head.* INTO candidate FROM (
                SELECT DISTINCT ON (coalesce(concurrency_group, '')) id, concurrency_group, concurrency_limit,
                       concurrency_group_limit, priority, flow_seq, rate_key, rate_limit, rate_period, scheduled_at
                FROM {SCHEMA}.jobs
                WHERE concurrency_key = p_key AND status = 'pending' AND waiting_for = 'slot'
                  AND (scheduled_at IS NULL OR scheduled_at <= now()) AND id <> ALL (skipped)
                ORDER BY coalesce(concurrency_group, ''), priority, flow_seq
            ) AS head
            CROSS JOIN LATERAL (
                SELECT count(*) AS n FROM {SCHEMA}.jobs AS holder
                WHERE holder.concurrency_key = p_key
                  AND holder.concurrency_group IS NOT DISTINCT FROM head.concurrency_group
                  AND holder.status IN ('pending', 'running')
                  AND (holder.waiting_for IS NULL OR holder.waiting_for = 'rate_limit')
            ) AS group_held
            WHERE group_held.n < coalesce(head.concurrency_group_limit, 2147483647)
            ORDER BY group_held.n, head.priority, head.flow_seq
            LIMIT 1;
        ELSE
            SELECT id, concurrency_limit, rate_key, rate_limit, rate_period, scheduled_at INTO candidate
            FROM {SCHEMA}.jobs
            WHERE concurrency_key = p_key AND status = 'pending' AND waiting_for = 'slot'
              AND (scheduled_at IS NULL OR scheduled_at <= now()) AND id <> ALL (skipped)
            ORDER BY priority, flow_seq LIMIT 1;
        END IF;
        EXIT WHEN NOT FOUND OR held >= candidate.concurrency_limit;
        -- Never wait for a row lock while holding the key: a job someone is canceling right now is
        -- passed over this time (its cancel's own admission follows).
        PERFORM 1 FROM {SCHEMA}.jobs WHERE id = candidate.id AND status = 'pending' AND waiting_for = 'slot'
        FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            skipped := skipped || candidate.id;
            CONTINUE;
        END IF;
        turn := NULL;
        IF candidate.rate_key IS NOT NULL THEN
            turn := {SCHEMA}.flow_rate_turn(candidate.rate_key, candidate.rate_limit, candidate.rate_period,
                                              candidate.scheduled_at);
        END IF;
        IF turn > now() THEN
            UPDATE {SCHEMA}.jobs SET waiting_for = 'rate_limit', scheduled_at = turn, updated_at = now()
            WHERE id = candidate.id;
        ELSE
            UPDATE {SCHEMA}.jobs SET waiting_for = NULL, updated_at = now() WHERE id = candidate.id;
            RETURN NEXT candidate.id;
        END IF;
    END LOOP;
    RETURN;
END $$
"""

ON_FINAL = f"""
CREATE FUNCTION {SCHEMA}.flow_admit_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM {SCHEMA}.flow_admit(NEW.concurrency_key);
    RETURN NULL;
END $$
"""

# A job released from waiting on its parents (jobs.waiting_for 'parents' -> NULL) takes its turn: it asks
# for its slot, or takes its rate-limit turn, like a new job.
ON_READY = f"""
CREATE FUNCTION {SCHEMA}.flow_on_ready() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    turn timestamptz;
BEGIN
    IF NEW.concurrency_key IS NOT NULL THEN
        NEW.waiting_for := 'slot';
    ELSE
        turn := {SCHEMA}.flow_rate_turn(NEW.rate_key, NEW.rate_limit, NEW.rate_period, NEW.scheduled_at);
        IF turn > now() THEN
            NEW.waiting_for := 'rate_limit';
            NEW.scheduled_at := turn;
        END IF;
    END IF;
    RETURN NEW;
END $$
"""

COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("flow_seq", sa.BigInteger()),
    ("concurrency_key", sa.String(length=200)),
    ("concurrency_limit", sa.Integer()),
    ("concurrency_strategy", sa.String(length=20)),
    ("concurrency_group", sa.String(length=200)),
    ("concurrency_group_limit", sa.Integer()),
    ("rate_key", sa.String(length=200)),
    ("rate_limit", sa.Integer()),
    ("rate_period", sa.Float()),
]


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("jobs", sa.Column(name, type_, nullable=True), schema=SCHEMA)
    op.execute(f"CREATE SEQUENCE {SCHEMA}.jobs_flow_seq")
    op.create_check_constraint(op.f("ck_jobs_concurrency_rule"), "jobs",
                               f"concurrency_key IS NULL OR (concurrency_limit >= 1 AND concurrency_strategy IN "
                               f"{STRATEGIES} AND flow_seq IS NOT NULL)", schema=SCHEMA)
    op.create_check_constraint(op.f("ck_jobs_rate_rule"), "jobs",
                               "rate_key IS NULL OR (rate_limit >= 1 AND rate_period > 0)", schema=SCHEMA)
    # A key's holders and waiting jobs (counted and picked at every admission).
    op.create_index("ix_jobs_flow_active", "jobs", ["concurrency_key", "priority", "flow_seq"], schema=SCHEMA,
                    postgresql_where=sa.text("concurrency_key IS NOT NULL AND status IN ('pending', 'running')"))
    op.create_table(
        "rate_limit_starts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_starts")),
        schema=SCHEMA,
    )
    op.create_index("ix_rate_limit_starts_key_at", "rate_limit_starts", ["key", "at"], schema=SCHEMA)
    op.execute(RATE_TURN)
    op.execute(ADMIT)
    op.execute(ON_FINAL)
    op.execute(ON_READY)
    # Named to fire after 0009's jobs_final_settles_children (triggers of one event fire by name): the
    # children are locked and settled before this takes the key's lock.
    op.execute(f"""
        CREATE TRIGGER jobs_final_slot_freed AFTER UPDATE OF status ON {SCHEMA}.jobs FOR EACH ROW
        WHEN (NEW.concurrency_key IS NOT NULL AND OLD.status IN ('pending', 'running')
              AND NEW.status IN ('completed', 'failed', 'canceled'))
        EXECUTE FUNCTION {SCHEMA}.flow_admit_on_change()
    """)
    op.execute(f"""
        CREATE TRIGGER jobs_ready_takes_its_turn BEFORE UPDATE OF waiting_for ON {SCHEMA}.jobs FOR EACH ROW
        WHEN (OLD.waiting_for = 'parents' AND NEW.waiting_for IS NULL AND NEW.status = 'pending'
              AND (NEW.concurrency_key IS NOT NULL OR NEW.rate_key IS NOT NULL))
        EXECUTE FUNCTION {SCHEMA}.flow_on_ready()
    """)
    op.execute(f"""
        CREATE TRIGGER jobs_ready_asks_for_a_slot AFTER UPDATE OF waiting_for ON {SCHEMA}.jobs FOR EACH ROW
        WHEN (OLD.waiting_for = 'parents' AND NEW.waiting_for = 'slot')
        EXECUTE FUNCTION {SCHEMA}.flow_admit_on_change()
    """)


def downgrade() -> None:
    op.execute(f"DROP TRIGGER jobs_ready_asks_for_a_slot ON {SCHEMA}.jobs")
    op.execute(f"DROP TRIGGER jobs_ready_takes_its_turn ON {SCHEMA}.jobs")
    op.execute(f"DROP TRIGGER jobs_final_slot_freed ON {SCHEMA}.jobs")
    op.execute(f"DROP FUNCTION {SCHEMA}.flow_on_ready()")
    op.execute(f"DROP FUNCTION {SCHEMA}.flow_admit_on_change()")
    op.execute(f"DROP FUNCTION {SCHEMA}.flow_admit(text)")
    op.execute(f"DROP FUNCTION {SCHEMA}.flow_rate_turn(text, integer, double precision, timestamptz)")
    op.drop_index("ix_rate_limit_starts_key_at", table_name="rate_limit_starts", schema=SCHEMA)
    op.drop_table("rate_limit_starts", schema=SCHEMA)
    op.drop_index("ix_jobs_flow_active", table_name="jobs", schema=SCHEMA,
                  postgresql_where=sa.text("concurrency_key IS NOT NULL AND status IN ('pending', 'running')"))
    op.drop_constraint(op.f("ck_jobs_rate_rule"), "jobs", schema=SCHEMA)
    op.drop_constraint(op.f("ck_jobs_concurrency_rule"), "jobs", schema=SCHEMA)
    op.execute(f"DROP SEQUENCE {SCHEMA}.jobs_flow_seq")
    for name, _type in reversed(COLUMNS):
        op.drop_column("jobs", name, schema=SCHEMA)
