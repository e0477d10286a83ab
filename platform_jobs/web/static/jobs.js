/* The jobs list: renders rows from the API, polls it, cancels jobs, drives the enqueue form. */
"use strict";

(() => {
  const ACTIVE = new Set(["pending", "running"]);
  let workspaceNames = {};

  function row(job, operator) {
    const tr = PJ.el("tr", "job-row status-row-" + job.status);
    tr.dataset.id = job.id;
    tr.dataset.status = job.status;

    const cJob = PJ.el("td", "c-job");
    const link = PJ.el("a", "job-type", job.type);
    link.href = "/jobs/" + job.id;
    cJob.append(link, PJ.el("div", "mono muted small", job.id.slice(0, 8)));

    const cStatus = PJ.el("td", "c-status");
    cStatus.append(PJ.el("span", "status status-" + job.status, job.status));
    if (job.cancel_requested && ACTIVE.has(job.status)) cStatus.append(PJ.el("div", "small warn", "cancel requested"));
    if (job.stalled) {
      const badge = PJ.el("span", "badge-stalled", "stalled");
      badge.title = "Progress has not moved for longer than this type's threshold";
      cStatus.append(badge);
    }

    const cProgress = PJ.el("td", "c-progress");
    if (ACTIVE.has(job.status)) {
      const bar = PJ.el("div", "bar");
      const fill = PJ.el("div", "bar-fill bar-" + job.status);
      fill.style.width = job.progress + "%";
      bar.append(fill);
      const later = job.status === "pending" && job.scheduled_at && new Date(job.scheduled_at) > Date.now();
      const waiting = later ? "scheduled " + PJ.relative(job.scheduled_at) : "waiting for a worker";
      cProgress.append(bar, PJ.el("div", "step small", (job.step || (job.status === "pending" ? waiting : "starting")) + " · " + job.progress + "%"));
    } else if (job.status === "failed" && job.last_error) {
      cProgress.append(PJ.el("div", "error-line small", job.last_error));
    } else if (job.status === "completed") {
      cProgress.append(PJ.el("div", "small muted", "done" + (job.step ? " · " + job.step : "")));
    } else if (job.last_error) {
      cProgress.append(PJ.el("div", "small muted", job.last_error));
    }

    const cAttempts = PJ.el("td", "c-attempts", job.attempts + " / " + job.max_attempts);
    const cCreated = PJ.el("td", "c-created");
    cCreated.append(PJ.timeElement(job.created_at));
    tr.append(cJob, cStatus, cProgress, cAttempts, cCreated);
    if (operator) {
      const name = job.workspace_id ? (workspaceNames[job.workspace_id] || job.workspace_id.slice(0, 8)) : "—";
      tr.append(PJ.el("td", "c-ws small", name));
    }
    const cActions = PJ.el("td", "c-actions");
    if (ACTIVE.has(job.status) && !job.cancel_requested) {
      const button = PJ.el("button", "btn btn-danger btn-sm", "Cancel");
      button.type = "button";
      button.dataset.action = "cancel";
      button.dataset.id = job.id;
      cActions.append(button);
    }
    tr.append(cActions);
    return tr;
  }

  function render(jobs, table) {
    const body = document.getElementById("jobs-body");
    const operator = table.dataset.operator === "true";
    const fragment = document.createDocumentFragment();
    jobs.forEach((job) => fragment.append(row(job, operator)));
    body.replaceChildren(fragment);
    document.getElementById("empty").hidden = jobs.length > 0;
    table.hidden = jobs.length === 0;
  }

  function toast(message, kind) {
    const node = document.getElementById("toast");
    node.textContent = message;
    node.className = "toast toast-" + (kind || "error");
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { node.hidden = true; }, 5000);
  }

  function setupForm() {
    const select = document.getElementById("job-type");
    if (!select) return;
    const sync = () => {
      document.querySelectorAll(".type-fields").forEach((fs) => {
        const on = fs.dataset.type === select.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
      const option = select.selectedOptions[0];
      const max = document.getElementById("max-attempts");
      if (option && max) max.placeholder = "default " + option.dataset.maxAttempts;
      const raw = document.getElementById("raw-payload");
      if (option && raw) raw.placeholder = option.dataset.example;
    };
    select.addEventListener("change", sync);
    sync();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("jobs-table");
    if (!table) return;
    (JSON.parse(document.getElementById("workspace-names").textContent) || []).forEach((ws) => {
      workspaceNames[ws.id] = ws.name;
    });
    render(JSON.parse(document.getElementById("initial-jobs").textContent), table);
    setupForm();

    let busy = false;
    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const result = await PJ.api("GET", table.dataset.pollUrl);
        render(result.jobs, table);
        PJ.live(true);
      } catch (e) {
        PJ.live(false);
      } finally {
        busy = false;
      }
    }
    setInterval(poll, Number(table.dataset.pollMs) || 1000);

    document.getElementById("jobs-body").addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action=cancel]");
      if (!button) return;
      button.disabled = true;
      button.textContent = "Canceling…";
      try {
        const result = await PJ.api("POST", "/api/jobs/" + button.dataset.id + "/cancel");
        toast(result.outcome === "canceled" ? "Job canceled." : "Cancel requested; the job stops at its next step.", "success");
      } catch (e) {
        toast("Could not cancel: " + e.message);
      }
      poll();
    });
  });
})();
