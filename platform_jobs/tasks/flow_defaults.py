"""The platform's flow rules (README, "Flow control"): which jobs share a slot, and how fast some may start.

- One mutating job per project at a time: provision_project, rotate_key, auto_suspend, export_backup and
  deploy share the key ``project:{project_id}`` with limit 1 (a deploy supersedes the deploy waiting
  before it: only the newest waiting deploy of a project runs next).
- Builds run at most :data:`BUILD_SLOTS` at a time, handed out in turn across workspaces, a workspace
  holding at most :data:`BUILD_SLOTS_PER_WORKSPACE` of them.
- Webhook deliveries: at most :data:`DELIVERIES_PER_ENDPOINT` at once per endpoint, and at most
  :data:`DELIVERY_RATE` starts per minute per endpoint.
- Metered API call batches: at most :data:`API_CALL_RATE` starts per minute per workspace.
"""

from __future__ import annotations

from platform_jobs.jobs.flow_rules import ConcurrencyRule, RateLimit, Strategy

PROJECT_KEY = "project:{project_id}"
BUILD_SLOTS = 4
BUILD_SLOTS_PER_WORKSPACE = 2
DELIVERIES_PER_ENDPOINT = 4
DELIVERY_RATE = 120  # per minute and endpoint
API_CALL_RATE = 600  # per minute and workspace

ONE_PER_PROJECT = ConcurrencyRule(PROJECT_KEY, limit=1)
DEPLOY_PER_PROJECT = ConcurrencyRule(PROJECT_KEY, limit=1, strategy=Strategy.SUPERSEDE)
BUILDS = ConcurrencyRule("builds", limit=BUILD_SLOTS, strategy=Strategy.ROUND_ROBIN, group="workspace:{workspace_id}",
                         group_limit=BUILD_SLOTS_PER_WORKSPACE)
DELIVERIES = ConcurrencyRule("endpoint:{endpoint_id}", limit=DELIVERIES_PER_ENDPOINT)
DELIVERY_STARTS = RateLimit("endpoint:{endpoint_id}", limit=DELIVERY_RATE, period=60.0)
API_CALL_STARTS = RateLimit("workspace:{workspace_id}", limit=API_CALL_RATE, period=60.0)
