"""/healthz and /readyz, against the real servers and against broken ones."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from platform_jobs.db import reset_engine
from platform_jobs.embedded import create_database, free_port
from platform_jobs.health import database_problem, redis_problem
from tests.support.web_app import build_app


def test_healthz_and_readyz_answer_without_login(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"ok": True, "status": "up"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"] == {"postgres": "ok", "redis": "ok"}


def test_readyz_fails_on_an_unmigrated_database_and_an_unreachable_redis(services, env) -> None:
    fresh = create_database(services.database_url, f"pj_unmigrated_{uuid.uuid4().hex[:8]}")
    env(DATABASE_URL=fresh, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    reset_engine()
    try:
        problem = database_problem()
        assert problem is not None and "platform-jobs migrate" in problem and "pj_unmigrated_" in problem
        assert "cannot reach Redis" in (redis_problem() or "")
        response = build_app().test_client().get("/readyz")
        assert response.status_code == 503
        assert response.json["checks"] == {"postgres": "failing", "redis": "failing"}
    finally:
        reset_engine()


def test_a_database_that_does_not_exist_is_named(services, env) -> None:
    from sqlalchemy.engine import make_url

    missing = make_url(services.database_url).set(database=f"pj_missing_{uuid.uuid4().hex[:6]}")
    env(DATABASE_URL=missing.render_as_string(hide_password=False))
    reset_engine()
    try:
        problem = database_problem()
        assert problem is not None and "cannot reach Postgres" in problem and "does not exist" in problem
    finally:
        reset_engine()


def test_an_unreachable_database_is_a_503_with_a_reason_not_a_500(services, env, world) -> None:
    from sqlalchemy.engine import make_url

    from tests.support.web import bearer

    missing = make_url(services.database_url).set(database=f"pj_gone_{uuid.uuid4().hex[:6]}")
    env(DATABASE_URL=missing.render_as_string(hide_password=False))
    reset_engine()
    try:
        client = build_app().test_client()
        api = client.get("/api/jobs", headers=bearer(world.token_a))
        assert api.status_code == 503 and api.json["error"]["code"] == "unavailable"
    finally:
        reset_engine()


def test_migrate_names_the_problem_instead_of_a_traceback(services, env) -> None:
    from click.testing import CliRunner
    from sqlalchemy.engine import make_url

    from platform_jobs.cli import main

    missing = make_url(services.database_url).set(database=f"pj_gone_{uuid.uuid4().hex[:6]}")
    env(DATABASE_URL=missing.render_as_string(hide_password=False))
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code != 0
    assert "cannot reach Postgres" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output
