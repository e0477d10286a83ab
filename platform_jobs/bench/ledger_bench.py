"""The big-ledger benchmark: seed N finished + M live jobs, compare the read paths with a 10k-row ledger
measured in the same run, prune a day of old rows under load over a few prune/refill cycles, and time the
partitioned alternative.

``platform-jobs bench --only ledger --ledger-finished 20000000 --ledger-live 100000`` (or
``python -m platform_jobs.bench.ledger_bench`` with DATABASE_URL set to a scratch database). The 10k
baseline lives in a sibling database (``<name>_10k``) on the same server, so both are read by one process,
request by request. Seeding resumes where an interrupted run stopped. docs/scale/ledger.md has the figures.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from platform_jobs import migrate
from platform_jobs.bench import big_ledger, ledger_prune, ledger_reads, scratch
from platform_jobs.bench.figure import percentile
from platform_jobs.db import session_scope
from platform_jobs.settings import get_settings

BASELINE_ROWS = 10_000


def _progress(label: str, total: int) -> Callable[[int], None]:
    started, done = time.perf_counter(), [0]

    def tick(rows: int) -> None:
        done[0] += rows
        if done[0] % 1_000_000 < rows or done[0] == total:
            elapsed = time.perf_counter() - started
            print(f"  {label}: {done[0]:,}/{total:,} rows, {elapsed:.0f} s, {done[0] / elapsed:,.0f} rows/s",
                  flush=True)
    return tick


def seed_to(finished: int, live: int) -> None:
    """Bring this process's database to ``finished`` finished and ``live`` live jobs (adding what is missing)."""
    with session_scope() as session:
        workspaces = big_ledger.ensure_workspaces(session)
        have_live = session.execute(text(
            "SELECT count(*) FROM control_plane.jobs WHERE status IN ('pending', 'running')")).scalar_one()
        have_finished = session.execute(text(
            "SELECT count(*) FROM control_plane.jobs WHERE status IN ('completed', 'failed', 'canceled')")).scalar_one()
    if have_finished < finished:
        result = big_ledger.seed_finished(finished - have_finished, total=finished, first=have_finished,
                                          workspaces=workspaces, progress=_progress("finished", finished))
        print(f"seeded {result.rows:,} finished jobs in {result.seconds:.0f} s ({result.rate:,.0f} rows/s, "
              "with their job_attempts rows)", flush=True)
    if have_live < live:
        result = big_ledger.seed_live(live - have_live, workspaces=workspaces, first=have_live)
        print(f"seeded {result.rows:,} live jobs in {result.seconds:.1f} s ({result.rate:,.0f} rows/s)", flush=True)


def baseline_database(big_url: str) -> str:
    """The sibling database of the 10k baseline: created, migrated and seeded on first use."""
    url = make_url(big_url)
    name = f"{url.database}_10k"
    admin = url.set(database="postgres", drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


# What the /jobs page ran before this bench (release 0020): an exact count per status and the distinct types.
FORMER_PAGE_QUERIES = (
    "SELECT status, count(*) FROM control_plane.jobs GROUP BY status",
    "SELECT DISTINCT type FROM control_plane.jobs",
    "SELECT status, count(*) FROM control_plane.jobs WHERE workspace_id = "
    "(SELECT id FROM control_plane.workspaces WHERE name = 'ledger-ws-00') GROUP BY status",
)


def former_page_queries(database_url: str) -> list[float]:
    """Seconds each of the former page's whole-history queries takes on this ledger (once: on a big ledger one
    run reads the whole table, tens of GB)."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    seconds = []
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for sql in FORMER_PAGE_QUERIES:
            started = time.perf_counter()
            connection.execute(sql).fetchall()
            seconds.append(time.perf_counter() - started)
    return seconds


def migrate_under_writers(database_url: str) -> None:
    """Upgrade the big ledger to head (0021's concurrent index builds) with the hot-path writer running."""
    writer = ledger_prune.Background(ledger_prune.writer_step, 0.005)
    writer.start()
    try:
        time.sleep(2)
        started_at = time.monotonic()
        migrate.upgrade(database_url)
        ended_at = time.monotonic()
        time.sleep(1)
    finally:
        writer.stop()
    during = writer.latencies.between(started_at, ended_at + 1)
    before = writer.latencies.between(0, started_at)
    print(f"migration to head on the big ledger: {ended_at - started_at:.1f} s; writer before: p50 "
          f"{percentile(before, 50):.1f} ms, max {max(before):.1f} ms; during: {len(during)} jobs, p50 "
          f"{percentile(during, 50):.1f} ms, p99 {percentile(during, 99):.1f} ms, max {max(during):.1f} ms", flush=True)


def run(finished: int, live: int, requests: int, prune_rows: int, cycles: int, batch: int, budget: float) -> None:
    big_url = get_settings().database.sqlalchemy_url
    small_url = baseline_database(big_url)
    migrate.upgrade(small_url)
    small_finished = BASELINE_ROWS * finished // (finished + live)
    from platform_jobs.settings import Settings, install_settings

    big_settings = get_settings()
    install_settings(Settings.from_environ({"DATABASE_URL": small_url, "SECRET_KEY": big_settings.security.secret_key}))
    seed_to(small_finished, BASELINE_ROWS - small_finished)
    install_settings(big_settings)
    print(f"seeding to {finished:,} finished + {live:,} live jobs", flush=True)
    seed_to(finished, live)
    migrate_under_writers(big_url)
    for url in (small_url, big_url):
        seconds = big_ledger.settle(url.replace("postgresql+psycopg://", "postgresql://"))
        print(f"VACUUM ANALYZE {make_url(url).database}: {seconds:.1f} s", flush=True)
    small_former, big_former = former_page_queries(small_url), former_page_queries(big_url)
    for sql, small_s, big_s in zip(FORMER_PAGE_QUERIES, small_former, big_former, strict=True):
        print(f"former /jobs query: {small_s * 1000:,.1f} ms at 10k, {big_s * 1000:,.1f} ms big: {sql[:70]}",
              flush=True)
    print(f"\nread paths, {requests} requests each, round-robin over both ledgers:", flush=True)
    ledgers = [ledger_reads.open_ledger("10k", small_url), ledger_reads.open_ledger("big", big_url)]
    ledger_reads.print_table(ledger_reads.measure(ledgers, requests), "10k", "big")
    print("", flush=True)
    for cycle in range(cycles):
        rate = ledger_prune.seed_old_day(prune_rows)
        print(f"cycle {cycle + 1}: seeded a day of {prune_rows:,} jobs past retention ({rate:,.0f} rows/s)", flush=True)
        if cycle == 0:
            ledger_prune.partition_figures(prune_rows)
        ledger_prune.print_sizes("before prune", ledger_prune.sizes())
        pruned = ledger_prune.prune_day(batch, budget)
        ledger_prune.print_prune(pruned, budget)
        ledger_prune.print_sizes("after prune", ledger_prune.sizes())
        print(f"VACUUM after the prune: {ledger_prune.vacuum():.1f} s", flush=True)
        ledger_prune.print_sizes("after vacuum", ledger_prune.sizes())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger-finished", type=int, default=1_000_000)
    parser.add_argument("--ledger-live", type=int, default=10_000)
    parser.add_argument("--ledger-requests", type=int, default=50)
    parser.add_argument("--ledger-prune-rows", type=int, default=1_000_000, help="the day of rows each cycle prunes")
    parser.add_argument("--ledger-cycles", type=int, default=2, help="prune/refill cycles (sizes after each)")


def run_from_args(args: argparse.Namespace) -> None:
    settings = get_settings()
    run(args.ledger_finished, args.ledger_live, args.ledger_requests, args.ledger_prune_rows, args.ledger_cycles,
        settings.runs.prune_batch, settings.runs.prune_budget_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    try:  # it prunes and fills the ledger: only on servers `platform-jobs bench` marked as its own
        scratch.require_scratch(settings.database.sqlalchemy_url, settings.broker)
    except scratch.NotScratch as exc:
        raise SystemExit(str(exc)) from None
    run_from_args(args)


if __name__ == "__main__":
    main()
