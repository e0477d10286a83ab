-- Every statement platform_jobs runs on control_plane.jobs and control_plane.job_logs to create, move,
-- lock, heartbeat or delete a job: one named block each, loaded once by platform_jobs/jobs/statements.py
-- and run as plain SQL that psycopg prepares (the hot path builds nothing per call).
--
-- A block starts with "-- name: <name>", then its header comments:
--   "-- moves: <from>[|<from>...] -> <to>[|<to>...]"  the status transitions it makes (checked against
--                                                    states.ALLOWED_TRANSITIONS when loaded);
--   "-- creates: <status>[|<status>...]"            an insert, and the statuses its rows start in;
--   "-- moves: none"                                 a statement that changes no status.
-- Every transition is a compare-and-set: its WHERE names the status it moves from, and every write of
-- a run names the run itself (id, attempts, worker), so a late or duplicated write changes nothing.
-- Parameters are psycopg's %(name)s (a COPY's rows are written by statements.copy_rows). The web's read model (listing, counts) is in queries.py.
--
-- Attempt history (control_plane.job_attempts, migration 0014) is written by the same statements as the
-- run it records, in data-modifying CTEs: the claim opens an attempt row, and whatever ends the run
-- (outcome, retry, release, take-over, reaper) closes the open row of the job's current attempt. No
-- trigger and no extra round trip; a job without an open attempt row (claimed before 0014) just gets none.

-- name: insert_job
-- creates: pending
-- The single enqueue (enqueue_job): one prepared statement.
INSERT INTO control_plane.jobs (id, type, payload, status, max_attempts, priority, queue, scheduled_at,
                                published_at, workspace_id, project_id, created_by)
VALUES (%(id)s, %(type)s, %(payload)s, 'pending', %(max_attempts)s, %(priority)s, %(queue)s,
        %(scheduled_at)s, %(published_at)s, %(workspace_id)s, %(project_id)s, %(created_by)s)

-- name: insert_jobs
-- creates: pending
-- Many rows in one COPY (enqueue_many, webhook fan-out; statements.copy_rows): psycopg formats the rows
-- in C, about half the cost of binding one array per column. Every row's status is 'pending'.
COPY control_plane.jobs (id, type, payload, status, max_attempts, priority, queue, scheduled_at, published_at,
                         workspace_id, project_id, created_by) FROM STDIN

-- name: count_jobs
-- moves: none
SELECT count(*) FROM control_plane.jobs WHERE id = ANY(%(ids)s::uuid[])

-- name: record_external_publish
-- creates: pending|failed
-- The row of a message another service published with a plain Celery client; a no-op when it exists.
-- An invalid payload (%(invalid)s is the reason) makes a row that is failed at once.
-- Its Celery canvas links (parent_id, root_id headers: a chain's previous task, and its first) are kept.
INSERT INTO control_plane.jobs (id, type, payload, status, max_attempts, priority, queue, scheduled_at,
                                published_at, last_error, completed_at, canvas_parent_id, canvas_root_id)
VALUES (%(id)s, %(type)s, %(payload)s,
        CASE WHEN %(invalid)s::text IS NULL THEN 'pending' ELSE 'failed' END::control_plane.job_status,
        %(max_attempts)s, %(priority)s, %(queue)s, %(scheduled_at)s, now(), %(invalid)s::text,
        CASE WHEN %(invalid)s::text IS NULL THEN NULL ELSE now() END, %(canvas_parent_id)s::uuid,
        %(canvas_root_id)s::uuid)
ON CONFLICT (id) DO NOTHING

-- name: mark_published
-- moves: none
UPDATE control_plane.jobs SET published_at = now()
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending'

-- name: mark_unpublished
-- moves: none
UPDATE control_plane.jobs SET published_at = NULL
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending'

-- name: claim
-- moves: pending -> running
-- The hot path of every run: a pending job with attempts left becomes this worker's (never one held back
-- by flow control: a stray message of a job waiting for its slot is refused). Its concurrency key says
-- whether its end must publish the job its slot goes to.
-- The attempt row (worker "host:pid", start) is opened in the same statement. A job not yet due by
-- Postgres' clock (a message that came early: a copy kombu restored, a sender's clock ahead) is left to
-- the slow path, which publishes it again for its time (docs/scale/hosts.md).
WITH claimed AS (
    UPDATE control_plane.jobs
    SET status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now(),
        lease_expires_at = now() + make_interval(secs => %(lease)s), worker = %(worker)s
    WHERE id = %(id)s AND status = 'pending' AND cancel_requested_at IS NULL AND attempts < max_attempts
      AND waiting_for IS NULL AND (scheduled_at IS NULL OR scheduled_at <= now() + interval '250 milliseconds')
    RETURNING id, attempts, max_attempts, project_id, has_children, concurrency_key, worker
), opened AS (
    INSERT INTO control_plane.job_attempts (job_id, attempt, worker, started_at)
    SELECT id, attempts, worker, now() FROM claimed
)
SELECT attempts, max_attempts, project_id, has_children, concurrency_key FROM claimed

-- name: lock_for_claim
-- moves: none
-- The claim's slow path: the row, locked, with whether its lease lapsed (not within one lease of a
-- Postgres start: every lease lapses during our own outage, and their workers still run them).
-- A pending job not due yet (more than the claim's 250 ms early) says so, with what republishing it needs.
SELECT status, attempts, max_attempts, worker, cancel_requested_at, waiting_for, concurrency_key,
       (lease_expires_at < now()
        AND pg_postmaster_start_time() < now() - make_interval(secs => %(lease)s)) AS lease_expired,
       coalesce(scheduled_at > now() + interval '250 milliseconds', false) AS not_due,
       id, type, payload, priority, queue, scheduled_at
FROM control_plane.jobs WHERE id = %(id)s
FOR UPDATE

-- name: take_over
-- moves: pending|running -> running
-- Under the slow path's lock: a new run of a job that is pending, or whose worker was lost (its open
-- attempt is closed as lost, and the new one opened).
WITH taken AS (
    UPDATE control_plane.jobs
    SET status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now(),
        lease_expires_at = now() + make_interval(secs => %(lease)s), worker = %(worker)s,
        last_error = coalesce(%(lost)s::text, last_error)
    WHERE id = %(id)s AND status IN ('pending', 'running') AND cancel_requested_at IS NULL
      AND attempts < max_attempts AND waiting_for IS NULL
    RETURNING id, attempts, max_attempts, project_id, has_children, concurrency_key, worker
), lost AS (
    UPDATE control_plane.job_attempts AS attempt
    SET ended_at = now(), outcome = 'lost', error = coalesce(%(lost)s::text, 'worker lost')
    FROM taken WHERE attempt.job_id = taken.id AND attempt.ended_at IS NULL
), opened AS (
    INSERT INTO control_plane.job_attempts (job_id, attempt, worker, started_at)
    SELECT id, attempts, worker, now() FROM taken
)
SELECT attempts, max_attempts, project_id, has_children, concurrency_key FROM taken

-- name: cancel_unclaimed
-- moves: pending|running -> canceled
-- Under the slow path's lock: a cancel was requested before this delivery could run the job (a lost
-- worker's open attempt is closed as lost).
WITH ended AS (
    UPDATE control_plane.jobs
    SET status = 'canceled', completed_at = now(), updated_at = now(), lease_expires_at = NULL,
        last_error = %(reason)s
    WHERE id = %(id)s AND status IN ('pending', 'running') AND cancel_requested_at IS NOT NULL
    RETURNING id
), lost AS (
    UPDATE control_plane.job_attempts AS attempt SET ended_at = now(), outcome = 'lost', error = 'worker lost'
    FROM ended WHERE attempt.job_id = ended.id AND attempt.ended_at IS NULL
)
SELECT id FROM ended

-- name: fail_exhausted
-- moves: pending|running -> failed
-- Under the slow path's lock: no attempts left (a poison job redelivered, a lost worker's last attempt,
-- whose open attempt is closed as lost).
WITH ended AS (
    UPDATE control_plane.jobs
    SET status = 'failed', completed_at = now(), updated_at = now(), lease_expires_at = NULL,
        last_error = %(reason)s
    WHERE id = %(id)s AND status IN ('pending', 'running') AND attempts >= max_attempts
    RETURNING id
), lost AS (
    UPDATE control_plane.job_attempts AS attempt SET ended_at = now(), outcome = 'lost', error = %(reason)s
    FROM ended WHERE attempt.job_id = ended.id AND attempt.ended_at IS NULL
)
SELECT id FROM ended

-- name: end_run
-- moves: running -> completed|failed|canceled
-- A run's outcome, now or late (after an outage): only while that run still holds the job. Its attempt
-- row is closed with the outcome, the error and its traceback (bounded by the caller).
WITH ended AS (
    UPDATE control_plane.jobs
    SET status = %(status)s::control_plane.job_status, completed_at = now(), updated_at = now(),
        lease_expires_at = NULL, last_error = %(error)s,
        result = CASE WHEN %(completed)s THEN %(result)s ELSE result END,
        progress = CASE WHEN %(completed)s THEN 100 ELSE progress END
    WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND worker = %(worker)s
    RETURNING id, attempts
), closed AS (
    UPDATE control_plane.job_attempts AS attempt
    SET ended_at = now(), outcome = %(status)s::text, error = %(error)s::text, traceback = %(traceback)s::text
    FROM ended WHERE attempt.job_id = ended.id AND attempt.attempt = ended.attempts AND attempt.ended_at IS NULL
)
SELECT id FROM ended

-- name: end_run_on_host
-- moves: running -> failed|canceled
-- The worker's main process reports a child it killed (hard time limit, terminate): it knows neither
-- attempt nor pid, so it names a running run of a process on its host.
WITH ended AS (
    UPDATE control_plane.jobs
    SET status = %(status)s::control_plane.job_status, completed_at = now(), updated_at = now(),
        lease_expires_at = NULL, last_error = %(error)s
    WHERE id = %(id)s AND status = 'running' AND starts_with(worker, %(host)s::text || ':')
    RETURNING id, attempts
), closed AS (
    UPDATE control_plane.job_attempts AS attempt
    SET ended_at = now(), outcome = %(status)s::text, error = %(error)s::text
    FROM ended WHERE attempt.job_id = ended.id AND attempt.attempt = ended.attempts AND attempt.ended_at IS NULL
)
SELECT id FROM ended

-- name: retry_run
-- moves: running -> pending
-- The run failed and the job runs again %(delay)s seconds from now by Postgres' clock (never a host's:
-- docs/scale/hosts.md; NULL: at once); published now or left to the dispatcher. Its attempt row is closed
-- as retried, with the error and its traceback.
WITH retried AS (
    UPDATE control_plane.jobs
    SET status = 'pending', last_error = %(error)s,
        scheduled_at = now() + make_interval(secs => %(delay)s::float8),
        published_at = CASE WHEN %(published)s THEN now() ELSE NULL END,
        lease_expires_at = NULL, worker = NULL, updated_at = now()
    WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND worker = %(worker)s
    RETURNING id, attempts
), closed AS (
    UPDATE control_plane.job_attempts AS attempt
    SET ended_at = now(), outcome = 'retried', error = %(error)s::text, traceback = %(traceback)s::text
    FROM retried WHERE attempt.job_id = retried.id AND attempt.attempt = retried.attempts
      AND attempt.ended_at IS NULL
)
SELECT id FROM retried

-- name: release_run
-- moves: running -> pending
-- The run was interrupted by our outage (ledger or broker): the job goes back with its attempt returned
-- (its attempt row is closed as released: the next run counts the same attempt number again); it is due
-- %(delay)s seconds from now by Postgres' clock.
WITH released AS (
    UPDATE control_plane.jobs
    SET status = 'pending', attempts = attempts - 1, last_error = %(error)s,
        scheduled_at = now() + make_interval(secs => %(delay)s::float8),
        published_at = NULL, lease_expires_at = NULL, worker = NULL, updated_at = now()
    WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND worker = %(worker)s
    RETURNING id
), closed AS (
    UPDATE control_plane.job_attempts AS attempt
    SET ended_at = now(), outcome = 'released', error = %(error)s::text
    FROM released WHERE attempt.job_id = released.id AND attempt.attempt = %(attempt)s
      AND attempt.ended_at IS NULL
)
SELECT id FROM released

-- name: flush_wal
-- moves: none
-- A durable commit that covers every commit made before it: taking a transaction id makes the commit
-- write a record and wait for the WAL flush up to it. The worker's main process runs it once per batch
-- of held acks (jobs.held_acks), so its children's asynchronous outcome commits are durable before
-- their messages are acked.
SELECT txid_current() AS txid

-- name: extend_leases
-- moves: none
-- One worker process's heartbeat over all its runs; returns which of them were asked to stop.
UPDATE control_plane.jobs AS job
SET lease_expires_at = now() + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::uuid[], %(attempts)s::int[], %(workers)s::text[]) AS run (id, attempts, worker)
WHERE job.id = run.id AND job.attempts = run.attempts AND job.worker = run.worker
  AND job.status = 'running'
RETURNING job.id, job.cancel_requested_at

-- name: set_progress
-- moves: none
-- Progress of the current run (also a heartbeat); no row back means the run no longer holds the job.
-- Stall detection: when progress or step changes, progress_at is now and longest_step the longest wait
-- between two moves of this run (a progress_at older than started_at is a former run's, and ignored).
UPDATE control_plane.jobs
SET progress = %(progress)s, step = coalesce(%(step)s::text, step), updated_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease)s),
    longest_step = CASE WHEN progress <> %(progress)s OR step IS DISTINCT FROM coalesce(%(step)s::text, step)
        THEN greatest(CASE WHEN progress_at >= started_at THEN longest_step END,
                      extract(epoch FROM now() - greatest(progress_at, started_at))::float8)
        ELSE longest_step END,
    progress_at = CASE WHEN progress <> %(progress)s OR step IS DISTINCT FROM coalesce(%(step)s::text, step)
        THEN now() ELSE progress_at END
WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND worker = %(worker)s
RETURNING cancel_requested_at

-- name: next_log_seq
-- moves: none
-- The line's number, and the job's current attempt (what a line whose run is not named is tagged with).
UPDATE control_plane.jobs SET log_seq = log_seq + 1 WHERE id = %(id)s RETURNING log_seq, attempts

-- name: insert_log
-- moves: none
INSERT INTO control_plane.job_logs (job_id, seq, line, attempt) VALUES (%(id)s, %(seq)s, %(line)s, %(attempt)s)

-- name: trim_log
-- moves: none
-- The lines past the newest PJ_LOG_LINES_PER_JOB leave job_logs for the job's spill (migration 0020), in the
-- same statement (no extra round trip): the sweep archives them with the rest once the job is final.
WITH gone AS (
    DELETE FROM control_plane.job_logs WHERE job_id = %(id)s AND seq <= %(oldest_dropped)s
    RETURNING job_id, seq, at, line, attempt
)
INSERT INTO control_plane.job_log_spill (job_id, seq, at, line, attempt)
SELECT job_id, seq, at, line, attempt FROM gone
ON CONFLICT (job_id, seq) DO NOTHING

-- name: log_tail
-- moves: none
SELECT seq, at, line, attempt FROM (
    SELECT seq, at, line, attempt FROM control_plane.job_logs WHERE job_id = %(id)s ORDER BY seq DESC LIMIT %(limit)s
) AS newest ORDER BY seq

-- name: cancel_pending
-- moves: pending -> canceled
-- A person canceled a job that has not started: it never runs.
UPDATE control_plane.jobs
SET status = 'canceled', cancel_requested_at = now(), completed_at = now(), updated_at = now(),
    last_error = %(reason)s
WHERE id = %(id)s AND status = 'pending'

-- name: request_stop
-- moves: none
-- A person canceled a running job: it stops at its next heartbeat, progress() or log().
UPDATE control_plane.jobs
SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
WHERE id = %(id)s AND status = 'running'

-- name: cancel_expired
-- moves: pending -> canceled
-- A job whose message expired (its sender set expires) before it ever ran.
UPDATE control_plane.jobs
SET status = 'canceled', completed_at = now(), updated_at = now(), last_error = %(reason)s
WHERE id = %(id)s AND status = 'pending' AND attempts = 0

-- name: retry_finished
-- moves: failed|canceled -> pending
-- A person retries a failed or canceled job (a completed one never runs again); published at once, or,
-- under a concurrency rule, back in the line for its slot (admitted and published by the caller).
UPDATE control_plane.jobs
SET status = 'pending', max_attempts = coalesce(%(max_attempts)s::int, max_attempts),
    cancel_requested_at = NULL, completed_at = NULL, scheduled_at = NULL, progress = 0, step = NULL,
    published_at = CASE WHEN concurrency_key IS NULL THEN now() END,
    waiting_for = CASE WHEN concurrency_key IS NOT NULL THEN 'slot' END,
    flow_seq = CASE WHEN concurrency_key IS NOT NULL THEN nextval('control_plane.jobs_flow_seq') END,
    updated_at = now()
WHERE id = %(id)s AND status IN ('failed', 'canceled')
  AND attempts < coalesce(%(max_attempts)s::int, max_attempts)
RETURNING id, type, payload, priority, queue, scheduled_at, concurrency_key

-- name: lock_due_unpublished
-- moves: none
-- The dispatcher: pending jobs not in the broker and due within the horizon, locked against other sweeps.
-- Jobs of a paused queue (control_plane.queue_pauses, migration 0013) are skipped here and in every
-- statement below that selects jobs to publish: they stay pending until their queue is resumed.
-- Only jobs of the types this process knows (%(types)s): a job whose message cannot be built here must not
-- take the batch's places, or fail the whole sweep, on every run (it waits for a process that knows it).
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE status = 'pending' AND published_at IS NULL AND waiting_for IS NULL
  AND (scheduled_at IS NULL OR scheduled_at <= now() + make_interval(secs => %(horizon)s))
  AND type = ANY(%(types)s::text[])
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)
ORDER BY scheduled_at NULLS FIRST
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: lock_unpublished
-- moves: none
-- These jobs, if still pending and not in the broker (the outbox relay's new delivery jobs).
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending' AND published_at IS NULL AND waiting_for IS NULL
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)
FOR UPDATE SKIP LOCKED

-- name: lock_stale_published
-- moves: none
-- The republisher: pending jobs published over %(older_than)s seconds ago (0: every one published
-- before this transaction), whose message may be lost.
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE status = 'pending' AND published_at < now() - make_interval(secs => %(older_than)s)
  AND type = ANY(%(types)s::text[])
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)
ORDER BY published_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: lock_published_between
-- moves: none
-- The republisher after the broker's server changed (a failover): pending jobs published in
-- [%(since)s, %(until)s), whose message may have been in the replication gap. The upper bound leaves out
-- what this republish itself stamps, so the caller can page through until nothing is left.
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE status = 'pending' AND published_at >= %(since)s AND published_at < %(until)s
  AND type = ANY(%(types)s::text[])
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)
ORDER BY published_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: ledger_now
-- moves: none
-- The one clock every time comparison of the ledger uses.
SELECT now()

-- name: reap_canceled
-- moves: running -> canceled
-- The reaper (lease lapsed, not within one lease of a Postgres start): a lost run that was asked to stop.
-- Every reap closes the run's open attempt as lost.
WITH reaped AS (
    UPDATE control_plane.jobs
    SET status = 'canceled', completed_at = now(), updated_at = now(), lease_expires_at = NULL,
        last_error = 'canceled; its worker was lost'
    WHERE status = 'running' AND cancel_requested_at IS NOT NULL AND lease_expires_at < now()
      AND pg_postmaster_start_time() < now() - make_interval(secs => %(lease)s)
    RETURNING id, attempts, last_error
), lost AS (
    UPDATE control_plane.job_attempts AS attempt SET ended_at = now(), outcome = 'lost', error = reaped.last_error
    FROM reaped WHERE attempt.job_id = reaped.id AND attempt.attempt = reaped.attempts AND attempt.ended_at IS NULL
)
SELECT id FROM reaped

-- name: reap_failed
-- moves: running -> failed
-- The reaper: a lost run that was the job's last attempt.
WITH reaped AS (
    UPDATE control_plane.jobs
    SET status = 'failed', completed_at = now(), updated_at = now(), lease_expires_at = NULL,
        last_error = 'worker ' || worker || ' lost during the last attempt; no attempts left'
    WHERE status = 'running' AND cancel_requested_at IS NULL AND attempts >= max_attempts
      AND lease_expires_at < now()
      AND pg_postmaster_start_time() < now() - make_interval(secs => %(lease)s)
    RETURNING id, attempts, last_error
), lost AS (
    UPDATE control_plane.job_attempts AS attempt SET ended_at = now(), outcome = 'lost', error = reaped.last_error
    FROM reaped WHERE attempt.job_id = reaped.id AND attempt.attempt = reaped.attempts AND attempt.ended_at IS NULL
)
SELECT id FROM reaped

-- name: reap_requeue
-- moves: running -> pending
-- The reaper: a lost run with attempts left goes back to pending, for the dispatcher.
WITH reaped AS (
    UPDATE control_plane.jobs
    SET status = 'pending', published_at = NULL, lease_expires_at = NULL, updated_at = now(),
        last_error = 'worker ' || worker || ' lost (lease expired); requeued', worker = NULL
    WHERE status = 'running' AND cancel_requested_at IS NULL AND attempts < max_attempts
      AND lease_expires_at < now() AND pg_postmaster_start_time() < now() - make_interval(secs => %(lease)s)
    RETURNING id, attempts, last_error
), lost AS (
    UPDATE control_plane.job_attempts AS attempt SET ended_at = now(), outcome = 'lost', error = reaped.last_error
    FROM reaped WHERE attempt.job_id = reaped.id AND attempt.attempt = reaped.attempts AND attempt.ended_at IS NULL
)
SELECT id FROM reaped

-- name: prune_finished
-- moves: none
-- One bounded batch, oldest first (ix_jobs_finished_at): the sweep runs batches, each in its own short
-- transaction, until none is left or its time budget is spent (maintenance.prune_expired), so no
-- transaction holds many row locks or runs long. SKIP LOCKED: a row someone holds (a retry of a failed
-- job, a concurrent sweep) is left for a later batch instead of waited for. The children (attempts, logs,
-- spilled logs, artifacts, dependencies) cascade through their job_id indexes; the artifacts' stored files
-- are left to the sweep (job_artifact_garbage), written by this same statement.
WITH doomed AS (
    SELECT id FROM control_plane.jobs
    WHERE status IN ('completed', 'failed', 'canceled') AND completed_at < now() - make_interval(secs => %(older_than)s)
    ORDER BY completed_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), pruned AS (
    DELETE FROM control_plane.jobs AS job USING doomed WHERE job.id = doomed.id
    RETURNING job.id
), garbage AS (
    INSERT INTO control_plane.job_artifact_garbage (backend, key)
    SELECT artifact.backend, artifact.key FROM control_plane.job_artifacts AS artifact JOIN pruned ON artifact.job_id = pruned.id
)
SELECT count(*) AS pruned FROM pruned

-- ==== Unique jobs and dependencies ====
-- jobs.unique and jobs.dependencies explain the rules; migration 0009 has the index and the trigger that
-- settles a finished job's children in the transaction that made it final.

-- name: insert_flow_jobs
-- creates: pending
-- enqueue_many's rows when one carries a unique key, depends on other jobs or is under a flow rule (a
-- concurrency rule, a rate limit). A row whose key is held (a job in one of its unique_states has it) is not
-- inserted: RETURNING names the rows that were. A row with parents starts held (waiting_for 'parents',
-- unpublished) until the enqueue has settled it. A row with a concurrency key waits for its slot ('slot': its
-- admission follows the commit, jobs.slots); a row with only a rate limit takes its turn here, in the order
-- given (control_plane.flow_rate_turn, migration 0010): released now, or waiting until its turn
-- ('rate_limit', scheduled_at = the turn) for the sweep to release it when due.
INSERT INTO control_plane.jobs (id, type, payload, status, max_attempts, priority, queue, scheduled_at,
                                published_at, workspace_id, project_id, created_by, unique_key, unique_states,
                                unique_until, waiting_for, flow_seq, concurrency_key, concurrency_limit,
                                concurrency_strategy, concurrency_group, concurrency_group_limit, rate_key,
                                rate_limit, rate_period)
SELECT id, type, payload, 'pending', max_attempts, priority, queue,
       CASE WHEN turn.at > now() THEN turn.at ELSE scheduled_at END, published_at,
       workspace_id, project_id, created_by, unique_key, unique_states::control_plane.job_status[],
       now() + make_interval(secs => unique_window),
       CASE WHEN waiting_for IS NOT NULL THEN waiting_for WHEN concurrency_key IS NOT NULL THEN 'slot'
            WHEN turn.at > now() THEN 'rate_limit' END,
       CASE WHEN concurrency_key IS NOT NULL THEN nextval('control_plane.jobs_flow_seq') END,
       concurrency_key, concurrency_limit, concurrency_strategy, concurrency_group, concurrency_group_limit,
       rate_key, rate_limit, rate_period
FROM unnest(%(ids)s::uuid[], %(types)s::text[], %(payloads)s::jsonb[], %(max_attempts)s::int[],
            %(priorities)s::smallint[], %(queues)s::text[], %(scheduled_ats)s::timestamptz[],
            %(published_ats)s::timestamptz[], %(workspace_ids)s::uuid[], %(project_ids)s::uuid[],
            %(created_bys)s::jsonb[], %(unique_keys)s::text[], %(unique_states)s::text[],
            %(unique_windows)s::float8[], %(waiting_fors)s::text[], %(concurrency_keys)s::text[],
            %(concurrency_limits)s::int[], %(concurrency_strategies)s::text[], %(concurrency_groups)s::text[],
            %(concurrency_group_limits)s::int[], %(rate_keys)s::text[], %(rate_limits)s::int[],
            %(rate_periods)s::float8[]) WITH ORDINALITY
     AS new (id, type, payload, max_attempts, priority, queue, scheduled_at, published_at, workspace_id,
             project_id, created_by, unique_key, unique_states, unique_window, waiting_for, concurrency_key,
             concurrency_limit, concurrency_strategy, concurrency_group, concurrency_group_limit, rate_key,
             rate_limit, rate_period, position)
CROSS JOIN LATERAL (
    SELECT CASE WHEN new.waiting_for IS NULL AND new.concurrency_key IS NULL AND new.rate_key IS NOT NULL
                THEN control_plane.flow_rate_turn(new.rate_key, new.rate_limit, new.rate_period, new.scheduled_at)
           END AS at
) AS turn
ORDER BY position
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status = ANY (unique_states) DO NOTHING
RETURNING id

-- name: unique_holders
-- moves: none
-- The jobs holding these keys now, and whether each one's window has passed.
SELECT unique_key, id, status, coalesce(unique_until <= now(), false) AS expired
FROM control_plane.jobs
WHERE unique_key = ANY(%(keys)s::text[]) AND status = ANY (unique_states)

-- name: release_unique_keys
-- moves: none
-- Holders whose window has passed give their key up (the key stays on the row, its states are emptied).
UPDATE control_plane.jobs SET unique_states = '{}'
WHERE id = ANY(%(ids)s::uuid[]) AND unique_until <= now()

-- name: lock_parents
-- moves: none
-- The parents of new children, locked until the enqueue commits (a parent that finishes meanwhile waits,
-- and its trigger then sees the new children) and marked as having children (the trigger's condition).
UPDATE control_plane.jobs SET has_children = true
WHERE id = ANY(%(ids)s::uuid[])
RETURNING id, status, workspace_id

-- name: insert_dependencies
-- moves: none
INSERT INTO control_plane.job_dependencies (parent_id, child_id, on_parent_failure)
SELECT parent_id, child_id, on_parent_failure
FROM unnest(%(parent_ids)s::uuid[], %(child_ids)s::uuid[], %(modes)s::text[])
     AS edge (parent_id, child_id, on_parent_failure)
ON CONFLICT DO NOTHING

-- name: release_children
-- moves: none
-- Children whose parents are all done may be published.
UPDATE control_plane.jobs SET waiting_for = NULL, updated_at = now()
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending' AND waiting_for = 'parents'

-- name: hold_for_parents
-- moves: none
-- A retried child whose parents are not done yet waits for them again, unpublished.
UPDATE control_plane.jobs SET waiting_for = 'parents', published_at = NULL, updated_at = now()
WHERE id = %(id)s AND status = 'pending'

-- name: cancel_for_parents
-- moves: pending -> canceled
-- New children of a parent that had already failed or was canceled: they never run (reason per child).
UPDATE control_plane.jobs AS job
SET status = 'canceled', completed_at = now(), updated_at = now(), waiting_for = NULL,
    last_error = doomed.reason
FROM unnest(%(ids)s::uuid[], %(reasons)s::text[]) AS doomed (id, reason)
WHERE job.id = doomed.id AND job.status = 'pending'

-- name: parents_of
-- moves: none
-- A job's parents, locked against finishing while a retry of the job decides whether it must wait.
SELECT parent.id, parent.status, edge.on_parent_failure
FROM control_plane.job_dependencies AS edge JOIN control_plane.jobs AS parent ON parent.id = edge.parent_id
WHERE edge.child_id = %(id)s
ORDER BY parent.id
FOR SHARE OF parent

-- name: lock_ready_children
-- moves: none
-- Released jobs (these, or the children of these parents) to publish now: pending, not in the broker,
-- waiting for nothing, due within %(horizon)s seconds; the rest is the dispatcher's.
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE (id = ANY(%(ids)s::uuid[])
       OR id IN (SELECT child_id FROM control_plane.job_dependencies WHERE parent_id = ANY(%(parent_ids)s::uuid[])))
  AND status = 'pending' AND published_at IS NULL AND waiting_for IS NULL
  AND (scheduled_at IS NULL OR scheduled_at <= now() + make_interval(secs => %(horizon)s))
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)
FOR UPDATE SKIP LOCKED

-- ==== Concurrency slots and rate limits ====
-- A job under a concurrency rule holds a slot of its key while it is released (pending, waiting_for
-- NULL, or 'rate_limit' until its rate-limit turn) or running; over the limit it waits ('slot'), never
-- published. control_plane.flow_admit(key) (migration 0010) releases waiting jobs into free slots under
-- the key's transaction advisory lock; a trigger runs it in the transaction of every final state of a
-- keyed job. The strategies' cancels below take no key lock: they only lock rows, and their own final
-- states' triggers admit. New rows under a rule are inserted by insert_flow_jobs (above).

-- name: flow_waiting
-- moves: none
-- Which of these jobs wait for a slot, with what their admission needs (key, type, strategy, place).
SELECT id, type, concurrency_key, concurrency_strategy, flow_seq FROM control_plane.jobs
WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending' AND waiting_for = 'slot'

-- name: admit_slots
-- moves: none
-- Release the waiting jobs of a key into its free slots (control_plane.flow_admit, under the key's lock);
-- returns the ids released to the broker now (a job whose rate-limit turn is later waits for it).
SELECT id FROM control_plane.flow_admit(%(key)s) AS id

-- name: supersede_waiting
-- moves: pending -> canceled
-- supersede / cancel_in_progress: the jobs of a type waiting for a slot of the key before %(by)s (the
-- newer job, at place %(by_seq)s) are canceled. Rows being changed right now are left to their changer.
UPDATE control_plane.jobs
SET status = 'canceled', cancel_requested_at = now(), completed_at = now(), updated_at = now(),
    last_error = 'superseded by ' || %(by)s::text
WHERE status = 'pending' AND waiting_for = 'slot' AND id IN (
    SELECT id FROM control_plane.jobs
    WHERE concurrency_key = %(key)s AND type = %(type)s AND status = 'pending' AND waiting_for = 'slot'
      AND flow_seq < %(by_seq)s
    FOR UPDATE SKIP LOCKED)

-- name: cancel_released_older
-- moves: pending -> canceled
-- cancel_in_progress: older jobs of the type that hold a slot but have not started yet are canceled.
UPDATE control_plane.jobs
SET status = 'canceled', cancel_requested_at = now(), completed_at = now(), updated_at = now(),
    last_error = 'superseded by ' || %(by)s::text
WHERE status = 'pending' AND (waiting_for IS NULL OR waiting_for = 'rate_limit') AND id IN (
    SELECT id FROM control_plane.jobs
    WHERE concurrency_key = %(key)s AND type = %(type)s AND status = 'pending'
      AND (waiting_for IS NULL OR waiting_for = 'rate_limit') AND flow_seq < %(by_seq)s
    FOR UPDATE SKIP LOCKED)

-- name: stop_running_older
-- moves: none
-- cancel_in_progress: older running jobs of the type are asked to stop (at their next heartbeat or
-- progress); their end frees the slot for the newer job.
UPDATE control_plane.jobs
SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
WHERE concurrency_key = %(key)s AND type = %(type)s AND status = 'running' AND flow_seq < %(by_seq)s

-- name: released_unpublished
-- moves: none
-- The jobs of a key released into a slot and not in the broker yet, due within the horizon: published
-- right after the commit that released them, then marked (unlocked: the handoff's latency is one read; a
-- message sent twice, by this and the dispatcher, is refused by the claim the second time).
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE concurrency_key = %(key)s AND status = 'pending' AND published_at IS NULL AND waiting_for IS NULL
  AND (scheduled_at IS NULL OR scheduled_at <= now() + make_interval(secs => %(horizon)s))
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)

-- name: release_due_rate_limited
-- moves: none
-- The sweep: jobs whose rate-limit turn comes within the horizon are handed to the dispatcher.
UPDATE control_plane.jobs SET waiting_for = NULL, updated_at = now()
WHERE status = 'pending' AND waiting_for = 'rate_limit'
  AND scheduled_at <= now() + make_interval(secs => %(horizon)s)

-- name: keys_with_free_slots
-- moves: none
-- The sweep's backstop: keys with a due job waiting for a slot while the slots are not all held (an
-- admission lost to a crash between an enqueue's commit and its admission, a delayed job now due).
SELECT head.concurrency_key FROM (
    SELECT DISTINCT ON (concurrency_key) concurrency_key, concurrency_limit FROM control_plane.jobs
    WHERE status = 'pending' AND waiting_for = 'slot' AND (scheduled_at IS NULL OR scheduled_at <= now())
    ORDER BY concurrency_key, priority, flow_seq
) AS head
WHERE (SELECT count(*) FROM control_plane.jobs AS holder
       WHERE holder.concurrency_key = head.concurrency_key AND holder.status IN ('pending', 'running')
         AND (holder.waiting_for IS NULL OR holder.waiting_for = 'rate_limit')) < head.concurrency_limit
LIMIT %(limit)s

-- name: released_unpublished_of_job
-- moves: none
-- released_unpublished for the key of this job (after a cancel or a killed run made it final).
SELECT id, type, payload, priority, queue, scheduled_at FROM control_plane.jobs
WHERE concurrency_key = (SELECT concurrency_key FROM control_plane.jobs WHERE id = %(id)s)
  AND status = 'pending' AND published_at IS NULL AND waiting_for IS NULL
  AND (scheduled_at IS NULL OR scheduled_at <= now() + make_interval(secs => %(horizon)s))
  AND NOT EXISTS (SELECT 1 FROM control_plane.queue_pauses AS paused WHERE paused.queue = jobs.queue)

-- ==== Artifacts and archived logs (migration 0020; jobs/artifacts.py, jobs/log_archive.py) ====

-- name: insert_logs
-- moves: none
-- Many lines of one job in one statement (a run's kept lines, a handler's batch): numbered, tagged with
-- %(attempt)s (else the job's current attempt). Returns the last line's number.
WITH numbered AS (
    UPDATE control_plane.jobs SET log_seq = log_seq + cardinality(%(lines)s::text[]) WHERE id = %(id)s
    RETURNING log_seq, attempts
), added AS (
    INSERT INTO control_plane.job_logs (job_id, seq, line, attempt)
    SELECT %(id)s, numbered.log_seq - cardinality(%(lines)s::text[]) + lines.ord, lines.line,
           coalesce(%(attempt)s::int, numbered.attempts)
    FROM numbered, unnest(%(lines)s::text[]) WITH ORDINALITY AS lines(line, ord)
)
SELECT log_seq FROM numbered

-- name: attach_artifact
-- moves: none
-- A file the current run attached (named by job, attempt and worker: a late run attaches nothing). The same
-- name again replaces it; the replaced file's key goes to the garbage the sweep deletes.
WITH holder AS (
    SELECT id FROM control_plane.jobs
    WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s AND worker = %(worker)s
), old AS (
    SELECT artifact.backend, artifact.key FROM control_plane.job_artifacts AS artifact
    JOIN holder ON artifact.job_id = holder.id WHERE artifact.name = %(name)s
), put AS (
    INSERT INTO control_plane.job_artifacts (job_id, name, kind, content_type, size, sha256, backend, key, attempt)
    SELECT id, %(name)s, 'file', %(content_type)s, %(size)s, %(sha256)s, %(backend)s, %(key)s, %(attempt)s FROM holder
    ON CONFLICT (job_id, name) DO UPDATE
    SET kind = 'file', content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
        backend = excluded.backend, key = excluded.key, attempt = excluded.attempt, lines = NULL,
        log_through_seq = NULL, created_at = now()
    RETURNING id
), replaced AS (
    INSERT INTO control_plane.job_artifact_garbage (backend, key)
    SELECT old.backend, old.key FROM old WHERE EXISTS (SELECT 1 FROM put)
)
SELECT id FROM put

-- name: logs_to_archive
-- moves: none
-- Finished jobs with spilled lines (a loose index scan of the spill's primary key: one probe per job).
WITH RECURSIVE spilled(job_id) AS (
    (SELECT job_id FROM control_plane.job_log_spill ORDER BY job_id LIMIT 1)
    UNION ALL
    SELECT (SELECT spill.job_id FROM control_plane.job_log_spill AS spill WHERE spill.job_id > spilled.job_id
            ORDER BY spill.job_id LIMIT 1)
    FROM spilled WHERE spilled.job_id IS NOT NULL
)
SELECT job.id FROM spilled JOIN control_plane.jobs AS job ON job.id = spilled.job_id
WHERE job.status IN ('completed', 'failed', 'canceled')
LIMIT %(limit)s

-- name: lock_log_archive
-- moves: none
-- One archiver per job at a time (another sweep skips it); a job retried since is left for later.
SELECT id FROM control_plane.jobs WHERE id = %(id)s AND status IN ('completed', 'failed', 'canceled')
FOR UPDATE SKIP LOCKED

-- name: put_log_archive
-- moves: none
-- The job's archived log (its whole log up to line %(through)s, gzip), replacing the former archive.
WITH old AS (
    SELECT backend, key FROM control_plane.job_artifacts WHERE job_id = %(id)s AND name = %(name)s
), put AS (
    INSERT INTO control_plane.job_artifacts (job_id, name, kind, content_type, size, sha256, backend, key, lines,
                                             log_through_seq)
    VALUES (%(id)s, %(name)s, 'log', 'application/gzip', %(size)s, %(sha256)s, %(backend)s, %(key)s, %(lines)s,
            %(through)s)
    ON CONFLICT (job_id, name) DO UPDATE
    SET kind = 'log', content_type = excluded.content_type, size = excluded.size, sha256 = excluded.sha256,
        backend = excluded.backend, key = excluded.key, attempt = NULL, lines = excluded.lines,
        log_through_seq = excluded.log_through_seq, created_at = now()
    RETURNING id
), replaced AS (
    INSERT INTO control_plane.job_artifact_garbage (backend, key) SELECT backend, key FROM old
)
DELETE FROM control_plane.job_log_spill WHERE job_id = %(id)s AND seq <= %(through)s AND EXISTS (SELECT 1 FROM put)

-- name: lock_artifact_garbage
-- moves: none
SELECT id, backend, key FROM control_plane.job_artifact_garbage ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED

-- name: delete_artifact_garbage
-- moves: none
DELETE FROM control_plane.job_artifact_garbage WHERE id = ANY(%(ids)s::bigint[])
