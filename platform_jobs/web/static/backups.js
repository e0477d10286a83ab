/* A project's backups: renders /api/projects/<id>/backups, polls it, starts, verifies and restores. */
"use strict";

(() => {
  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function jobLink(job, text) {
    if (!job) return PJ.el("span", "muted", "—");
    const link = PJ.el("a", "mono", text || job.id.slice(0, 8));
    link.href = job.url;
    return link;
  }

  function cell(label, className) {
    const td = PJ.el("td", className);
    td.dataset.label = label;
    return td;
  }

  function verified(backup) {
    const td = cell("Verified", "c-verified");
    const check = backup.last_verification;
    if (!check) { td.append(PJ.el("span", "muted", "never")); return td; }
    const text = check.result ? check.result : check.status + (check.status === "running" ? " " + check.progress + "%" : "");
    const badge = PJ.el("span", "status status-" + (check.result === "ok" ? "completed" : check.result === "mismatch" ? "failed" : check.status), text);
    badge.dataset.result = check.result || "";
    td.append(badge, " ", jobLink(check.job));
    return td;
  }

  function row(backup, operator, act) {
    const tr = PJ.el("tr", "backup-row status-row-" + backup.status);
    tr.dataset.id = backup.id;
    tr.dataset.status = backup.status;
    const started = cell("Started");
    started.append(PJ.timeElement(backup.started_at));
    const status = cell("Status", "c-status");
    status.append(PJ.el("span", "status status-" + backup.status, backup.status));
    if (backup.error) status.append(PJ.el("p", "error-line small", backup.error));
    const size = cell("Size", "c-size");
    size.textContent = bytes(backup.size_bytes);
    if (backup.size_bytes !== null) size.title = backup.size_bytes + " bytes";
    const sha = cell("SHA-256", "c-sha");
    const code = PJ.el("code", "mono small sha", backup.sha256 ? backup.sha256.slice(0, 16) + "…" : "—");
    if (backup.sha256) { code.title = backup.sha256; code.dataset.sha256 = backup.sha256; }
    sha.append(code);
    const storage = cell("Storage", "c-storage small");
    storage.textContent = backup.storage.backend + " · " + backup.part_count + (backup.part_count === 1 ? " part" : " parts");
    if (backup.storage.location) storage.title = backup.storage.location;
    const job = cell("Job", "c-job");
    job.append(jobLink(backup.job));
    const actions = cell("Actions", "c-actions");
    if (backup.status === "completed") {
      const verify = PJ.el("button", "btn btn-sm verify-backup", "Verify");
      verify.type = "button";
      verify.setAttribute("aria-label", "Verify backup " + backup.id.slice(0, 8));
      verify.addEventListener("click", () => act("verify", backup));
      actions.append(verify);
      if (operator) {
        const restore = PJ.el("button", "btn btn-sm restore-backup", "Restore…");
        restore.type = "button";
        restore.setAttribute("aria-label", "Restore backup " + backup.id.slice(0, 8) + " into a new database");
        restore.addEventListener("click", () => act("restore", backup));
        actions.append(" ", restore);
      }
    }
    (backup.restores || []).slice(0, 3).forEach((restore) => {
      const line = PJ.el("p", "small restore-line");
      line.dataset.database = restore.database_name || "";
      line.dataset.status = restore.status;
      line.append("→ ", PJ.el("code", "mono", restore.database_name || "?"), " ",
        PJ.el("span", "status status-" + restore.status, restore.status), " ", jobLink(restore.job));
      actions.append(line);
    });
    tr.append(started, status, size, sha, storage, job, verified(backup), actions);
    return tr;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("backups-table");
    if (!table) return;
    const project = table.dataset.project;
    const operator = table.dataset.operator === "true";
    const base = "/api/projects/" + project + "/backups";
    const message = document.getElementById("backup-message");

    function say(kind, parts) {
      message.className = "flash flash-" + kind;
      message.replaceChildren(...parts);
      message.hidden = false;
    }

    let poll = () => {};
    async function act(kind, backup) {
      const url = kind === "start" ? base : base + "/" + backup.id + "/" + kind;
      try {
        const result = await PJ.api("POST", url, {});
        const link = jobLink({ id: result.id, url: "/jobs/" + result.id }, "job " + result.id.slice(0, 8));
        if (kind === "start") say("success", [result.duplicate ? "A backup is already under way: " : "Backup started: ", link]);
        if (kind === "verify") say("success", ["Verification started: ", link]);
        if (kind === "restore") {
          const name = PJ.el("code", "mono", result.database_name);
          name.id = "restore-database";
          say("success", ["Restoring into the new database ", name, ": ", link]);
        }
        poll();
      } catch (e) {
        say("error", [e.message]);
      }
    }

    function render(result) {
      const fragment = document.createDocumentFragment();
      result.backups.forEach((backup) => fragment.append(row(backup, operator, act)));
      document.getElementById("backups-body").replaceChildren(fragment);
      document.getElementById("backups-empty").hidden = result.backups.length > 0;
    }
    render(JSON.parse(document.getElementById("initial-backups").textContent));

    let busy = false;
    poll = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        render(await PJ.api("GET", base));
        PJ.live(true);
      } catch (e) {
        PJ.live(false);
      } finally {
        busy = false;
      }
    };
    setInterval(poll, Number(table.dataset.pollMs) || 2000);
    document.getElementById("start-backup").addEventListener("click", () => act("start", null));
  });
})();
