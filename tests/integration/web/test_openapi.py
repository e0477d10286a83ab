"""/api/openapi.json describes every /api route, and schemathesis finds the live app true to it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from platform_jobs.db import session_scope
from platform_jobs.settings import get_settings
from platform_jobs.web import create_app, users
from tests.support.web import LiveServer


def _operator_token() -> str:
    with session_scope() as session:
        return users.create_token(session, operator=True, name="schemathesis").token


def _cancel_jobs_created_by(token: str) -> int:
    """Schemathesis enqueues real jobs (random demo payloads): cancel them so no later worker runs them."""
    from sqlalchemy import select

    from platform_jobs.jobs.queue import cancel_job
    from platform_jobs.jobs.states import ACTIVE_STATUSES
    from platform_jobs.models import Job

    creator = f"token:{token.split('_')[1]}"
    with session_scope() as session:
        ids = session.scalars(select(Job.id).where(Job.created_by["id"].astext == creator,
                                                   Job.status.in_(ACTIVE_STATUSES))).all()
    for job_id in ids:
        cancel_job(job_id)
    return len(ids)


def test_document_lists_every_api_route_and_method() -> None:
    app = create_app(get_settings(), {"TESTING": True})
    token = _operator_token()
    spec = app.test_client().get("/api/openapi.json", headers={"Authorization": f"Bearer {token}"}).json
    assert spec["openapi"].startswith("3.")
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}
    documented = {(path, method.upper()) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(path, method) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    # Every route of the jobs API is documented; whatever is documented is served.
    assert served <= documented
    all_served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
                  for rule in app.url_map.iter_rules() for method in rule.methods or ()}
    assert documented <= all_served


def _run_schemathesis(st: str, spec_path: Path, url: str, token: str, tmp_path: Path) -> Any:
    return subprocess.run(
        [st, "run", str(spec_path), "--url", url, "-H", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance,response_headers_conformance",
         "--include-path-regex", "^/api/(jobs|openapi)",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "25", "--seed", "7", "--workers", "1",
         "--generation-database", "none", "--request-timeout", "10", "--no-color"],
        capture_output=True, text=True, timeout=540, cwd=tmp_path,
    )


def test_schemathesis_finds_no_server_error_or_schema_violation(live_server: LiveServer, tmp_path: Path) -> None:
    token = _operator_token()
    spec = requests.get(f"{live_server.url}/api/openapi.json", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).json()
    spec_path = tmp_path / "openapi.json"
    spec_path.write_text(json.dumps(spec))
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    try:
        run = _run_schemathesis(st, spec_path, live_server.url, token, tmp_path)
    finally:
        _cancel_jobs_created_by(token)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts is not None and counts.group(1) == counts.group(2) and int(counts.group(1)) > 100, output[-3000:]
    assert "failed" not in output.split("SUMMARY")[-1].lower(), output[-3000:]
    print(output.split("SUMMARY")[-1])
