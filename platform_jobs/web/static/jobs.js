/* The jobs list: renders rows from the API, polls it, cancels jobs, drives the enqueue form. */
"use strict";

(() => {
  const ACTIVE = new Set(["pending", "running"]);
  const FINISHED_RETRYABLE = new Set(["failed", "canceled"]);
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
      button.setAttribute("aria-label", "Cancel " + job.type + " job " + job.id.slice(0, 8));
      button.dataset.id = job.id;
      button.setAttribute("aria-label", "Cancel " + job.type + " job " + job.id.slice(0, 8));
      cActions.append(button);
    }
    // Retry on the list: a member only while attempts are left; an operator gives one more when all are used.
    const exhausted = job.attempts >= job.max_attempts;
    if (FINISHED_RETRYABLE.has(job.status) && (operator || !exhausted)) {
      const button = PJ.el("button", "btn btn-sm", "Retry");
      button.type = "button";
      button.dataset.action = "retry";
      button.dataset.id = job.id;
      if (exhausted) button.dataset.maxAttempts = String(job.attempts + 1);
      button.setAttribute("aria-label", "Retry " + job.type + " job " + job.id.slice(0, 8));
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
      label();
    };
    // The button says how many jobs the form makes: copies times the pasted lines of the chosen type.
    const submit = document.getElementById("enqueue-submit");
    const copies = document.getElementById("copies");
    const label = () => {
      if (!submit) return;
      const fieldset = document.querySelector('.type-fields[data-type="' + CSS.escape(select.value) + '"]');
      const pasted = fieldset ? fieldset.querySelector("[data-per-line-values]") : null;
      const lines = pasted ? pasted.value.split("\n").filter((line) => line.trim()).length : 0;
      const count = Math.max(1, parseInt(copies && copies.value, 10) || 1) * Math.max(1, lines);
      submit.textContent = count > 1 ? "Enqueue " + count + " jobs" : "Enqueue job";
    };
    select.addEventListener("change", sync);
    document.getElementById("enqueue-form").addEventListener("input", label);
    sync();
  }

  /* Bulk actions: preview the count for the current filter, ask for a reason, start the bulk job. */
  function setupBulk() {
    const bar = document.getElementById("bulk");
    if (!bar) return;
    const filter = JSON.parse(bar.dataset.filter || "{}");
    const form = document.getElementById("bulk-form");
    const preview = document.getElementById("bulk-preview");
    const started = document.getElementById("bulk-started");
    const reason = document.getElementById("bulk-reason");
    let action = null;
    bar.querySelectorAll("button[data-bulk]").forEach((button) => {
      button.addEventListener("click", async () => {
        action = button.dataset.bulk;
        started.hidden = true;
        preview.textContent = "Counting…";
        form.hidden = false;
        try {
          const counts = await PJ.api("POST", "/api/jobs/bulk/preview", { action, filter });
          preview.textContent = (action === "retry" ? "Retry " : "Cancel ") + counts.count + " of the " +
            counts.matching + " matching jobs" + (counts.count < counts.matching ? " (the others are not " +
            (action === "retry" ? "failed or canceled with attempts left" : "pending or running") + ")" : "") + ".";
          preview.dataset.count = String(counts.count);
          document.getElementById("bulk-confirm").disabled = counts.count === 0;
          reason.focus();
        } catch (e) {
          preview.textContent = "Could not count: " + e.message;
        }
      });
    });
    document.getElementById("bulk-dismiss").addEventListener("click", () => { form.hidden = true; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!reason.value.trim()) { reason.focus(); return; }
      const confirm = document.getElementById("bulk-confirm");
      confirm.disabled = true;
      try {
        const result = await PJ.api("POST", "/api/jobs/bulk", { action, filter, reason: reason.value.trim() });
        form.hidden = true;
        reason.value = "";
        started.replaceChildren("Bulk " + action + " of " + result.count + " jobs started: ");
        const link = PJ.el("a", "bulk-link", "follow its progress");
        link.href = "/jobs/" + result.id;
        link.id = "bulk-job-link";
        started.append(link);
        started.hidden = false;
      } catch (e) {
        toast("Could not start: " + e.message);
      } finally {
        confirm.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("jobs-table");
    if (!table) return;
    (JSON.parse(document.getElementById("workspace-names").textContent) || []).forEach((ws) => {
      workspaceNames[ws.id] = ws.name;
    });
    render(JSON.parse(document.getElementById("initial-jobs").textContent), table);
    setupForm();

    // The page is a keyset position: polling refreshes the same page; Newer/Older move it.
    const pager = { cursor: table.dataset.cursor || "", next: table.dataset.nextCursor || "",
                    prev: table.dataset.prevCursor || "", generation: 0 };
    const newer = document.getElementById("page-newer");
    const older = document.getElementById("page-older");
    function syncPager() {
      newer.disabled = !pager.prev;
      older.disabled = !pager.next;
      const url = new URL(window.location.href);
      if (pager.cursor) url.searchParams.set("cursor", pager.cursor); else url.searchParams.delete("cursor");
      window.history.replaceState(null, "", url);
    }
    function pageUrl(cursor) {
      return table.dataset.pollUrl + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    }

    let busy = false;
    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      const generation = pager.generation;
      try {
        const result = await PJ.api("GET", pageUrl(pager.cursor));
        if (generation !== pager.generation) return;  // the reader moved meanwhile: a stale answer
        pager.next = result.next_cursor || "";
        pager.prev = result.prev_cursor || "";
        if (!pager.prev) pager.cursor = "";  // at the top: follow the newest jobs
        render(result.jobs, table);
        syncPager();
        PJ.live(true);
      } catch (e) {
        PJ.live(false);
      } finally {
        busy = false;
      }
    }
    setInterval(poll, Number(table.dataset.pollMs) || 1000);
    syncPager();

    async function move(cursor) {
      pager.cursor = cursor;
      pager.generation += 1;
      newer.disabled = older.disabled = true;
      while (busy) await new Promise((resolve) => setTimeout(resolve, 20));
      await poll();
      document.getElementById("jobs-table").scrollIntoView({ block: "nearest" });
    }
    newer.addEventListener("click", () => { if (pager.prev) move(pager.prev); });
    older.addEventListener("click", () => { if (pager.next) move(pager.next); });

    document.getElementById("jobs-body").addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const retry = button.dataset.action === "retry";
      button.disabled = true;
      button.textContent = retry ? "Retrying…" : "Canceling…";
      try {
        if (retry) {
          const body = button.dataset.maxAttempts ? { max_attempts: Number(button.dataset.maxAttempts) } : {};
          await PJ.api("POST", "/api/jobs/" + button.dataset.id + "/retry", body);
          toast("Retry queued.", "success");
        } else {
          const result = await PJ.api("POST", "/api/jobs/" + button.dataset.id + "/cancel");
          toast(result.outcome === "canceled" ? "Job canceled." : "Cancel requested; the job stops at its next step.", "success");
        }
      } catch (e) {
        toast((retry ? "Could not retry: " : "Could not cancel: ") + e.message);
      }
      poll();
    });
    setupBulk();
  });
})();
