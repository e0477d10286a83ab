"""Issue 7, 16: a dump of the control-plane database holds no plaintext API key, token, password or
webhook secret (each is stored as a hash, or encrypted with a key derived from SECRET_KEY)."""

from __future__ import annotations

import subprocess
import uuid

from platform_jobs.db import session_scope
from platform_jobs.platform import key_reveals, keys, pg_tools, webhooks
from platform_jobs.platform.projects import create_project
from platform_jobs.settings import get_settings
from platform_jobs.web.users import create_token, create_user, get_or_create_workspace


def test_control_plane_dump_contains_no_plaintext_secret() -> None:
    password = f"pw-{uuid.uuid4().hex}"
    suffix = uuid.uuid4().hex[:8]
    with session_scope() as session:
        workspace = get_or_create_workspace(session, f"secrets-{suffix}")
        create_user(session, f"secrets-{suffix}@example.com", password, operator=False, workspaces=(workspace.name,))
        token = create_token(session, workspace=workspace.name).token
        project = create_project(session, workspace_id=workspace.id, name="Secrets", slug=f"sec-{suffix}",
                                 owner_email="owner@example.com")
        api_key = keys.issue_key(session, project.id, "service_role").plaintext
        endpoint = webhooks.create_endpoint(session, project_id=project.id, url="https://93.184.216.34/hook",
                                            event_types=["job.completed"])
        secret = endpoint.secret
        # A rotated key waiting for its one reveal: sealed to a token only the requester holds.
        reveal_token, reveal_public = key_reveals.new_token()
        rotated = keys.rotate(session, project.id, "anon")
        key_reveals.store(session, reveal_public, project.id, "anon", rotated.version, rotated.prefix,
                          rotated.plaintext)

    dbname, dump_env = pg_tools.libpq_args(get_settings().database.url)
    tool = pg_tools.find_pg_dump(pg_tools.server_major(dbname))
    dump = subprocess.run([tool.path, "--data-only", "-n", "control_plane", "--dbname", dbname],
                          capture_output=True, env=dump_env, check=True).stdout.decode()

    assert str(project.id) in dump  # the dump really holds the rows
    assert reveal_public in dump
    for plaintext in (password, token, api_key, secret, secret.removeprefix("whsec_"), rotated.plaintext,
                      reveal_token):
        assert plaintext not in dump
    assert "whsec_" not in dump
    assert keys.hash_key(api_key) in dump  # what is stored is the key's hash
