"""The benchmark phases, run in one process with DATABASE_URL / REDIS_URL already set.

``python -m platform_jobs.bench.runner --json PATH`` (``platform-jobs bench`` prepares the servers and
calls this). Every platform_jobs figure is printed with its ratio to bare Celery measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import text

from platform_jobs.bench import capacity, drain, ledger_bench, pgfigures, scratch, workers
from platform_jobs.bench.bare_app import bare_noop
from platform_jobs.bench.figure import Figure, percentile
from platform_jobs.bench.probe import TIMES_KEY
from platform_jobs.db import session_scope
from platform_jobs.jobs.queue import JobRequest, enqueue_job, enqueue_many
from platform_jobs.settings import get_settings

T = TypeVar("T")


def _progress(items: Iterable[T], label: str, length: int) -> Iterable[T]:
    bar = click.progressbar(items, label=label, length=length, file=sys.stderr)
    with bar as shown:
        yield from shown


def _reset_ledger() -> None:
    workers.purge_queues()
    with session_scope() as session:
        session.execute(text("TRUNCATE control_plane.jobs CASCADE"))


def enqueue_rates(n: int, many_n: int, batch: int) -> list[Figure]:
    run = uuid.uuid4().hex
    for _ in range(100):  # warm both paths: connections, pools, imports
        bare_noop.delay(run=run)
        enqueue_job("bench_noop", {"run": run})
    started = time.perf_counter()
    for _ in _progress(range(n), "enqueue: bare task.delay()", n):
        bare_noop.delay(run=run)
    bare_rate = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in _progress(range(n), "enqueue: enqueue_job()", n):
        enqueue_job("bench_noop", {"run": run})
    platform_rate = n / (time.perf_counter() - started)
    requests = [JobRequest("bench_noop", {"run": run}) for _ in range(many_n)]
    started = time.perf_counter()
    for index in _progress(range(0, many_n, batch), "enqueue: enqueue_many()", many_n // batch):
        enqueue_many(requests[index:index + batch])
    many_rate = many_n / (time.perf_counter() - started)
    _reset_ledger()
    return [
        Figure("enqueue_job vs task.delay()", platform_rate, "jobs/s", bare_rate, target=">= 0.8x",
               met=platform_rate >= 0.8 * bare_rate),
        Figure(f"enqueue_many (batches of {batch})", many_rate, "jobs/s", bare_rate, target=">= 10000 jobs/s",
               met=many_rate >= 10_000),
    ]


def drain_figures(n: int, log_dir: Path, count_n: int, concurrencies: list[int]) -> list[Figure]:
    figures = drain.drain_rates(n, log_dir, lambda items, label: _progress(items, label, len(items)), concurrencies)
    _reset_ledger()
    figures += pgfigures.drain_counts(count_n, log_dir)
    _reset_ledger()
    return figures


def _latency_run(app_module: str, rate: float, seconds: float, log_dir: Path,
                 send: Callable[[str, float], None]) -> tuple[str, list[list[Any]]]:
    run = uuid.uuid4().hex
    process = workers.start_worker(app_module, log_dir)
    try:
        time.sleep(3)  # worker boot
        total = int(rate * seconds)
        interval = 1 / rate
        next_at = time.perf_counter()
        for _ in _progress(range(total), f"latency: {app_module} at {rate:.0f}/s", total):
            now = time.perf_counter()
            if now < next_at:
                time.sleep(next_at - now)
            send(run, time.time())
            next_at += interval
        workers.wait_count(run, total, timeout=120)
        time.sleep(0.5)
    finally:
        workers.stop_worker(process)
    client = workers.redis_client()
    rows = [json.loads(raw) for raw in client.lrange(TIMES_KEY.format(run=run), 0, -1)]
    return run, rows


def _enqueue_timed(run: str, enqueued_at: float) -> None:
    enqueue_job("bench_noop", {"run": run, "enqueued_at": enqueued_at})


def latencies(rate: float, seconds: float, log_dir: Path) -> list[Figure]:
    _, bare_rows = _latency_run("platform_jobs.bench.bare_app", rate, seconds, log_dir,
                                lambda run, at: bare_noop.delay(run=run, enqueued_at=at))
    _, rows = _latency_run("platform_jobs", rate, seconds, log_dir,
                           lambda run, at: _enqueue_timed(run, at))
    bare_ms = [(started - enqueued) * 1000 for _, enqueued, started, _ in bare_rows]
    ms = [(started - enqueued) * 1000 for _, enqueued, started, _ in rows]
    finished = {job_id: end for job_id, _, _, end in rows}
    with session_scope() as session:
        completed = session.execute(text(
            "SELECT id::text, extract(epoch FROM completed_at) FROM control_plane.jobs "
            "WHERE type = 'bench_noop' AND status = 'completed'"
        )).all()
    lag_ms = [(float(done) - finished[job_id]) * 1000 for job_id, done in completed if job_id in finished]
    _reset_ledger()
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    figures = [
        Figure("enqueue-to-start p50", p50, "ms", percentile(bare_ms, 50), higher_is_better=False,
               target="<= 5 ms", met=p50 <= 5),
        Figure("enqueue-to-start p99", p99, "ms", percentile(bare_ms, 99), higher_is_better=False,
               target="<= 25 ms", met=p99 <= 25),
    ]
    if lag_ms:
        lag50, lag99 = percentile(lag_ms, 50), percentile(lag_ms, 99)
        figures += [
            Figure("mirror lag p50 (handler end -> row completed)", lag50, "ms", higher_is_better=False),
            Figure("mirror lag p99", lag99, "ms", higher_is_better=False, target="<= 100 ms", met=lag99 <= 100),
        ]
    return figures


def print_table(figures: list[Figure]) -> None:
    click.echo("")
    click.echo(f"{'figure':<62} {'platform_jobs':>19} {'baseline':>10} {'ratio':>7}  target")
    for figure in figures:
        baseline = _number(figure.baseline) if figure.baseline is not None else "-"
        ratio = f"{figure.ratio:.2f}x" if figure.ratio is not None else "-"
        verdict = "" if figure.met is None else ("  met" if figure.met else "  MISSED")
        click.echo(f"{figure.name:<62} {_number(figure.value):>12} {figure.unit:<6} {baseline:>10} {ratio:>7}  "
                   f"{figure.target}{verdict}")
    click.echo("baseline: bare Celery with the same settings and broker (no hooks), unless the figure names "
               "another; Postgres counts have none (bare Celery uses no Postgres)")


def _number(value: float) -> str:
    if abs(value) >= 10 or value == 0:
        return f"{value:,.1f}"
    return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--enqueue-n", type=int, default=3000)
    parser.add_argument("--many-n", type=int, default=50_000)
    parser.add_argument("--drain-n", type=int, default=5000)
    parser.add_argument("--drain-concurrency", type=int, action="append", default=None,
                        help="also drain with this many worker processes (default: 4 and 8)")
    parser.add_argument("--pooler", choices=("none", "pgbouncer"), default="none",
                        help="pgbouncer: also drain through a PgBouncer in transaction mode started before the "
                             "bench's Postgres, beside a direct drain (docs/scale/pooler.md)")
    parser.add_argument("--pooler-concurrency", type=int, action="append", default=None,
                        help=f"worker processes of the pooler drains (default {workers.CONCURRENCY}; repeatable)")
    parser.add_argument("--pooler-rounds", type=int, default=2,
                        help="runs of each pooler drain, in alternating order; the best of each is reported")
    parser.add_argument("--latency-rate", type=float, default=100)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--capacity-n", type=int, default=3000, help="jobs of the capacity phase's drain")
    parser.add_argument("--capacity-seconds", type=float, default=10,
                        help="seconds of each pgbench run of the capacity phase's Postgres ceiling")
    parser.add_argument("--skip", action="append", default=[],
                        help="phase to skip: enqueue drain latency capacity extra dashboard batch")
    parser.add_argument("--only", choices=["ledger"], default=None,
                        help="run only this phase: ledger (the big-ledger bench, bench/ledger_bench.py)")
    ledger_bench.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        scratch.require_scratch(settings.database.sqlalchemy_url, settings.broker)
    except scratch.NotScratch as exc:
        raise SystemExit(str(exc)) from None
    if args.only == "ledger":
        ledger_bench.run_from_args(args)
        return
    log_dir = Path(tempfile.mkdtemp(prefix="pj-bench-"))
    _reset_ledger()
    figures: list[Figure] = []
    if "enqueue" not in args.skip:
        figures += enqueue_rates(args.enqueue_n, args.many_n, drain.BATCH)
        figures += pgfigures.enqueue_counts(min(args.enqueue_n, 300), min(args.many_n, 2 * drain.BATCH))
        _reset_ledger()
    if "drain" not in args.skip:
        concurrencies = [4, 8] if args.drain_concurrency is None else [c for c in args.drain_concurrency if c]
        figures += drain_figures(args.drain_n, log_dir, min(args.drain_n, 2000), concurrencies)
    if args.pooler == "pgbouncer":
        from platform_jobs.bench.pooler_drain import pooler_figures

        figures += pooler_figures(args.drain_n, log_dir, args.pooler_concurrency or [workers.CONCURRENCY],
                                  args.pooler_rounds)
        _reset_ledger()
    if "latency" not in args.skip:
        figures += latencies(args.latency_rate, args.latency_seconds, log_dir)
    if "capacity" not in args.skip:
        figures += capacity.capacity_figures(args.capacity_n, args.capacity_seconds, log_dir,
                                             lambda items, label: _progress(items, label, len(items)))
        _reset_ledger()
    if "extra" not in args.skip:
        from platform_jobs.bench.extra import extra_figures

        figures += extra_figures(Figure, args.skip)
    print_table(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{**asdict(f), "ratio": f.ratio} for f in figures], indent=2))
        click.echo(f"\nresults written to {args.json}")
    click.echo(f"worker logs in {log_dir}")


if __name__ == "__main__":
    main()
