"""SQLAlchemy models; importing this module registers every table on ``Base.metadata``."""

from __future__ import annotations

from platform_jobs.models.artifacts import JobArtifact, JobArtifactGarbage, JobLogSpill
from platform_jobs.models.attempts import JobAttempt
from platform_jobs.models.audit import AuditEvent
from platform_jobs.models.base import SCHEMA, Base
from platform_jobs.models.jobs import Job, JobDependency, JobLog, RateLimitStart
from platform_jobs.models.key_reveals import KeyReveal
from platform_jobs.models.outbound import Backup, WebhookAttempt, WebhookEndpoint, WebhookMessage
from platform_jobs.models.outbox import JobOutboxEvent
from platform_jobs.models.queues import QueuePause
from platform_jobs.models.stats import JobStall, JobStatsMinute, JobStatsQuarter, JobStatsWatermark, JobTypeSteps
from platform_jobs.models.templates import JobSchedule, JobTemplate, JobTemplateVersion, ScheduleRun
from platform_jobs.models.tenants import (
    ApiKey,
    Notification,
    Plan,
    Project,
    ProjectStatus,
    ServiceRegistration,
    Suspension,
    UsageWarning,
)
from platform_jobs.models.usage import UsageBatch, UsageEvent
from platform_jobs.models.users import ApiToken, Membership, User
from platform_jobs.models.workspaces import Workspace

__all__ = [
    "JobOutboxEvent",
    "JobAttempt",
    "JobArtifact", "JobArtifactGarbage", "JobLogSpill",
    "AuditEvent",
    "QueuePause",
    "KeyReveal",
    "ApiKey", "Notification", "Plan", "Project", "ProjectStatus", "ServiceRegistration", "Suspension",
    "UsageWarning",
    "Backup", "WebhookAttempt", "WebhookEndpoint", "WebhookMessage",
    "SCHEMA", "ApiToken", "Base", "Job", "JobDependency", "JobLog", "Membership", "RateLimitStart", "UsageBatch",
    "UsageEvent", "User",
    "Workspace",
    "JobSchedule", "JobTemplate", "JobTemplateVersion", "ScheduleRun",
    "JobStall", "JobStatsMinute", "JobStatsQuarter", "JobStatsWatermark", "JobTypeSteps",
]
