"""What the API and pages show of a project's backups: the rows, the job that made each, and the
verifications and restores run on them (read from the jobs ledger: those jobs carry the backup's id).

Reads only. A backup's storage ``location`` (a server path, a Telegram chat and file) is an operator's
detail: members get the backend's name, the parts and the checksums.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_jobs.models import Backup, Job, Project

MAX_BACKUPS = 200
MAX_CHECK_JOBS = 500  # newest verify/restore jobs of a project considered for the list
PART_FIELDS = ("index", "name", "bytes", "sha256")


def visible_project(session: Session, project_id: str, workspace_id: uuid.UUID | None,
                    is_operator: bool) -> Project | None:
    """The project, if the caller may see it (None for a missing, foreign or malformed id alike)."""
    try:
        key = uuid.UUID(project_id)
    except ValueError:
        return None
    project = session.get(Project, key)
    if project is None or (not is_operator and project.workspace_id != workspace_id):
        return None
    return project


def backup_of(session: Session, project: Project, backup_id: str) -> Backup | None:
    try:
        key = uuid.UUID(backup_id)
    except ValueError:
        return None
    backup = session.get(Backup, key)
    return backup if backup is not None and backup.project_id == project.id else None


def _job_link(job_id: uuid.UUID | None) -> dict[str, str] | None:
    if job_id is None:
        return None
    return {"id": str(job_id), "url": f"/jobs/{job_id}", "api": f"/api/jobs/{job_id}"}


def _check(job: Job) -> dict[str, Any]:
    result = job.result if isinstance(job.result, dict) else {}
    return {
        "job": _job_link(job.id), "status": job.status.value, "progress": job.progress,
        "result": result.get("result"), "problems": result.get("problems"),
        "database_name": (job.payload or {}).get("database_name"),
        "created_at": job.created_at.isoformat(),
        "completed_at": job.completed_at.isoformat() if job.completed_at else None,
    }


def _checks(session: Session, project_id: uuid.UUID) -> dict[str, dict[str, list[dict[str, Any]]]]:
    jobs = session.scalars(
        select(Job).where(Job.project_id == project_id, Job.type.in_(("verify_backup", "restore_backup")))
        .order_by(Job.created_at.desc()).limit(MAX_CHECK_JOBS)
    )
    found: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: {"verify": [], "restore": []})
    for job in jobs:
        backup_id = str((job.payload or {}).get("backup_id", ""))
        found[backup_id]["verify" if job.type == "verify_backup" else "restore"].append(_check(job))
    return found


def backup_json(backup: Backup, checks: dict[str, list[dict[str, Any]]] | None, is_operator: bool) -> dict[str, Any]:
    parts = [{name: part.get(name) for name in PART_FIELDS} for part in backup.parts or []]
    checks = checks or {"verify": [], "restore": []}
    return {
        "id": str(backup.id), "project_id": str(backup.project_id), "status": backup.status,
        "storage": {"backend": backup.backend, "location": backup.location if is_operator else None},
        "format": backup.format, "schema_name": backup.schema_name,
        "size_bytes": backup.size_bytes, "sha256": backup.sha256, "parts": parts, "part_count": len(parts),
        "duration_ms": backup.duration_ms, "error": backup.error,
        "started_at": backup.started_at.isoformat(),
        "completed_at": backup.completed_at.isoformat() if backup.completed_at else None,
        "job": _job_link(backup.job_id),
        "last_verification": checks["verify"][0] if checks["verify"] else None,
        "restores": checks["restore"][:10],
    }


def project_backups(session: Session, project: Project, is_operator: bool, limit: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Backup).where(Backup.project_id == project.id)
                           .order_by(Backup.started_at.desc(), Backup.id).limit(min(limit, MAX_BACKUPS)))
    checks = _checks(session, project.id)
    return [backup_json(row, checks.get(str(row.id)), is_operator) for row in rows]


def one_backup(session: Session, backup: Backup, is_operator: bool) -> dict[str, Any]:
    return backup_json(backup, _checks(session, backup.project_id).get(str(backup.id)), is_operator)


def project_json(project: Project) -> dict[str, Any]:
    return {"id": str(project.id), "name": project.name, "slug": project.slug,
            "workspace_id": str(project.workspace_id), "status": project.status.value}


def visible_projects(session: Session, workspace_id: uuid.UUID | None, is_operator: bool,
                     limit: int = 200) -> list[Project]:
    stmt = select(Project).order_by(Project.name, Project.id).limit(limit)
    if not is_operator:
        stmt = stmt.where(Project.workspace_id == workspace_id)
    return list(session.scalars(stmt))
