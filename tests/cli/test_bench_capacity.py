"""The benchmark's capacity phase scaled down for CI (README, "Running at scale"): the figures the capacity
model is made of are measured and written, and they are the size the model says."""

from __future__ import annotations

import json

from click.testing import CliRunner

from platform_jobs.cli import main


def test_the_capacity_phase_runs_scaled_down_and_writes_the_models_figures(services, tmp_path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["bench", "--json", str(out), "--capacity-n", "150", "--capacity-seconds", "1",
                                       "--skip", "enqueue", "--skip", "drain", "--skip", "latency",
                                       "--skip", "extra"])
    assert result.exit_code == 0, f"{result.output[-3000:]} {result.exception!r}"
    figures = {figure["name"]: figure for figure in json.loads(out.read_text())}
    print("\n".join(f"{name}: {figure['value']:.3f} {figure['unit']} {figure['target']}"
                    for name, figure in figures.items()))
    # A publish (LPUSH), a fetch (BRPOP), an ack (HDEL/ZREM) and Celery's task events at the least.
    commands = figures["capacity: Redis commands per job (enqueue + run)"]["value"]
    assert 5 <= commands <= 40, commands
    for name in ("capacity: Postgres server CPU per job", "capacity: worker CPU per job (main + children)",
                 "capacity: Redis server CPU per job", "capacity: enqueuer CPU per job (enqueue_job)"):
        assert figures[name]["value"] > 0, name
    check = next(figure for name, figure in figures.items() if name.startswith("capacity: rate predicted"))
    assert check["value"] > 0 and check["baseline"] > 0
    ceilings = [figure for name, figure in figures.items() if name.startswith("capacity: Postgres ceiling")]
    assert len(ceilings) == 3 and all(figure["value"] > 0 for figure in ceilings)
