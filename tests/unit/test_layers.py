"""Layer contracts (what import-linter would check): the queue core never imports the domain, the web app,
the job types or the CLI, and the domain never imports the web app. Function-local imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "platform_jobs"

CONTRACTS = {
    "jobs": ("platform_jobs.platform", "platform_jobs.web", "platform_jobs.tasks", "platform_jobs.cli",
             "platform_jobs.jobs_cli", "platform_jobs.bench"),
    "platform": ("platform_jobs.web", "platform_jobs.cli", "platform_jobs.jobs_cli", "platform_jobs.bench"),
}


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(CONTRACTS))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    forbidden = CONTRACTS[layer]
    breaches = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in sorted(imported_names(path))
        if name.startswith(forbidden)
    ]
    assert not breaches, "\n".join(breaches)
