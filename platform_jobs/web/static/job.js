/* A job's page: polls /api/jobs/<id> (every second while active, every few seconds once final, so a retry
   made elsewhere shows up); attempts with their tracebacks and logs; older log lines and the download;
   Retry and Cancel through the API. */
"use strict";

(() => {
  const ACTIVE = new Set(["pending", "running"]);
  let timer = null;
  let timerEvery = 0;
  let lastLogSeq = -1;
  let older = [];  /* log lines loaded with "Load older", before the polled tail */
  let olderCursor = null;  /* the seq to load older lines before (null: none older) */
  let tailSize = 200;
  let attemptsSignature = "";
  let note = null;  /* an action's message: {text, kind, whileActive} */

  function setText(id, text) {
    const node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  function etaText(job, eta) {
    if (job.status === "completed") return "Finished in " + PJ.duration((new Date(job.completed_at) - new Date(job.started_at)) / 1000) + ".";
    if (!ACTIVE.has(job.status)) return "Ended " + PJ.relative(job.completed_at || job.updated_at) + ".";
    if (!eta) return "No estimate yet: no earlier " + job.type + " job has completed and it has reported no progress.";
    const wait = eta.wait_seconds ? " (of which about " + PJ.duration(eta.wait_seconds) + " waiting for its turn)" : "";
    const sure = eta.confidence ? " · " + eta.confidence + " confidence" + (eta.basis ? ": " + eta.basis : "") : "";
    if (!eta.samples && eta.own_seconds === null) return "About " + PJ.duration(eta.remaining_seconds) + " before it starts" + wait + sure;
    return "About " + PJ.duration(eta.remaining_seconds) + " remaining" + wait + sure;
  }

  function logLine(entry) {
    const line = PJ.el("div", "log-line");
    const attempt = entry.attempt ? PJ.el("span", "log-attempt", "#" + entry.attempt) : null;
    line.append(PJ.el("span", "log-time", PJ.absolute(entry.at).slice(11)));
    if (attempt) line.append(attempt);
    line.append(document.createTextNode(entry.line));
    return line;
  }

  function renderLogs(logs) {
    const pane = document.getElementById("job-logs");
    const stick = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 8;
    const first = logs.length ? logs[0].seq : Infinity;
    const all = older.filter((entry) => entry.seq < first).concat(logs);
    if (all.length) pane.replaceChildren(...all.map(logLine));
    setText("log-count", all.length ? all.length + (all.length === 1 ? " line" : " lines") : "");
    if (!older.length) olderCursor = logs.length >= tailSize && first > 1 ? first : null;
    document.getElementById("load-older").hidden = !olderCursor;
    if (stick) pane.scrollTop = pane.scrollHeight;
  }

  function attemptItem(attempt) {
    const item = PJ.el("li", "attempt attempt-" + attempt.outcome);
    const head = PJ.el("div", "attempt-head");
    head.append(PJ.el("strong", null, "Attempt " + attempt.attempt), PJ.el("span", "status status-" +
      ({ retried: "failed", lost: "canceled", released: "pending" }[attempt.outcome] || attempt.outcome), attempt.outcome),
      PJ.el("span", "mono small", attempt.worker || "—"));
    const times = PJ.el("span", "muted small");
    times.append(PJ.timeElement(attempt.started_at));
    if (attempt.ended_at) times.append(document.createTextNode(" → "), PJ.timeElement(attempt.ended_at),
      document.createTextNode(" (" + PJ.duration(attempt.duration_seconds) + ")"));
    head.append(times);
    item.append(head);
    if (attempt.error) item.append(PJ.el("pre", "error-text", attempt.error));
    if (attempt.traceback) {
      const tb = PJ.el("details", "traceback");
      tb.append(PJ.el("summary", null, "Traceback"), PJ.el("pre", "error-text", attempt.traceback));
      item.append(tb);
    }
    if (attempt.logs) {
      const logs = PJ.el("details", "attempt-logs");
      logs.append(PJ.el("summary", null, "Logs of attempt " + attempt.attempt + " (" + attempt.logs.length + ")"));
      const pane = PJ.el("pre", "logs");
      if (attempt.logs.length) pane.append(...attempt.logs.map(logLine)); else pane.append(PJ.el("span", "muted", "No log lines."));
      logs.append(pane);
      item.append(logs);
    }
    return item;
  }

  function renderAttempts(list) {
    const node = document.getElementById("attempts");
    const open = new Set([...node.querySelectorAll("details[open]")].map((d) => d.closest("li").dataset.key + d.className));
    if (!list.length) { node.replaceChildren(PJ.el("li", "muted", "No attempt yet.")); return; }
    node.replaceChildren(...list.map((attempt, index) => {
      const item = attemptItem(attempt);
      item.dataset.key = String(index);
      item.querySelectorAll("details").forEach((d) => { if (open.has(item.dataset.key + d.className)) d.open = true; });
      return item;
    }));
    setText("attempt-count", list.length + (list.length === 1 ? " attempt" : " attempts"));
  }

  function render(job, logs, eta, operator) {
    const status = document.getElementById("job-status");
    status.textContent = job.status + (job.cancel_requested && ACTIVE.has(job.status) ? " · cancel requested" : "");
    status.className = "status status-" + job.status;
    const stalled = document.getElementById("job-stalled");
    if (stalled) stalled.hidden = !job.stalled;
    const waiting = job.status === "pending" && job.waiting ? job.waiting.text : null;
    setText("job-step", job.step || (job.status === "pending" ? (waiting || "waiting for a worker") : "—"));
    const waitNode = document.getElementById("job-waiting");
    waitNode.hidden = !waiting;
    waitNode.textContent = waiting ? "Waiting: " + waiting : "";
    setText("job-pct", job.progress + "%");
    const bar = document.getElementById("job-bar");
    bar.style.width = (job.status === "completed" ? 100 : job.progress) + "%";
    bar.className = "bar-fill bar-" + job.status;
    setText("job-eta", etaText(job, eta));
    setText("d-attempts", job.attempts + " of " + job.max_attempts);
    document.querySelectorAll("[data-time]").forEach((dd) => dd.replaceChildren(PJ.timeElement(job[dd.dataset.time])));

    const errorCard = document.getElementById("error-card");
    const showError = job.last_error && job.status !== "completed";
    errorCard.hidden = !showError;
    if (showError) {
      const failed = job.status === "failed";
      errorCard.className = "card error-card " + (failed ? "error-failed" : "error-previous");
      setText("error-title", failed ? "Failed" : job.status === "canceled" ? "Canceled" : "Previous attempt failed");
      setText("job-error", job.last_error);
    }
    const resultBlock = document.getElementById("result-block");
    resultBlock.hidden = job.result === null || job.result === undefined;
    if (!resultBlock.hidden) setText("job-result", JSON.stringify(job.result, null, 2));

    const retryForm = document.getElementById("retry-form");
    retryForm.hidden = !(job.status === "failed" || job.status === "canceled");
    const maxInput = document.getElementById("retry-max-attempts");
    if (maxInput && !retryForm.hidden && document.activeElement !== maxInput) {
      maxInput.value = job.attempts >= job.max_attempts ? job.attempts + 1 : "";
      maxInput.placeholder = String(job.max_attempts);
    }
    document.getElementById("cancel-btn").hidden = !ACTIVE.has(job.status) || job.cancel_requested;

    const last = logs.length ? logs[logs.length - 1].seq : -1;
    if (last !== lastLogSeq) {
      lastLogSeq = last;
      renderLogs(logs);
    }
    /* A note about an action in progress (Retry queued.) lasts only while the job is active again. */
    if (note && note.whileActive && !ACTIVE.has(job.status)) message(null);
  }

  function message(text, kind, whileActive) {
    note = text ? { text, kind, whileActive: !!whileActive } : null;
    const node = document.getElementById("action-message");
    node.textContent = text || "";
    node.className = "flash flash-" + (kind || "info");
    node.hidden = !text;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("job");
    if (!root) return;
    const id = root.dataset.id;
    const operator = root.dataset.operator === "true";
    const every = Number(root.dataset.pollMs) || 1000;
    const everyFinal = Number(root.dataset.finalPollMs) || 5000;
    const initial = JSON.parse(document.getElementById("initial-job").textContent);
    tailSize = initial.log_tail || tailSize;
    render(initial.job, initial.logs, initial.eta, operator);

    async function refreshAttempts(summary) {
      const signature = JSON.stringify(summary.map((a) => [a.attempt, a.outcome, a.ended_at]));
      if (signature === attemptsSignature) return;
      attemptsSignature = signature;
      try {
        renderAttempts((await PJ.api("GET", "/api/jobs/" + id + "/attempts")).attempts);
      } catch (e) {
        attemptsSignature = "";  /* asked again at the next poll */
      }
    }

    async function poll() {
      try {
        const result = await PJ.api("GET", "/api/jobs/" + id);
        const job = result.job;
        render(job, job.logs, job.eta, operator);
        PJ.live(true);
        schedule(job.status);
        await refreshAttempts(job.attempt_history || []);
      } catch (e) {
        PJ.live(false);
        if (e.status === 404) stop();
      }
    }
    /* Every second while the job is active; every few seconds once it is final (a retry made elsewhere,
       by the API or another tab, brings it back to life here). */
    function schedule(status) {
      const wanted = ACTIVE.has(status) ? every : everyFinal;
      if (timer !== null && timerEvery === wanted) return;
      if (timer !== null) clearInterval(timer);
      timer = setInterval(poll, wanted);
      timerEvery = wanted;
      const live = document.getElementById("live");
      if (live) live.hidden = false;
    }
    function stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      const live = document.getElementById("live");
      if (live) live.hidden = true;
    }
    schedule(initial.job.status);
    refreshAttempts(initial.job.attempt_history || []);

    document.getElementById("load-older").addEventListener("click", async (event) => {
      const button = event.currentTarget;
      if (!olderCursor) return;
      button.disabled = true;
      try {
        const page = await PJ.api("GET", "/api/jobs/" + id + "/logs?limit=" + tailSize + "&before=" + olderCursor);
        older = page.logs.concat(older);
        olderCursor = page.next_before;
        const pane = document.getElementById("job-logs");
        const height = pane.scrollHeight;
        lastLogSeq = -2;
        const tail = await PJ.api("GET", "/api/jobs/" + id);
        render(tail.job, tail.job.logs, tail.job.eta, operator);
        pane.scrollTop = pane.scrollHeight - height;  /* keep the lines the reader was looking at in place */
      } catch (e) {
        message("Could not load older lines: " + e.message, "error");
      } finally {
        button.disabled = false;
        button.hidden = !olderCursor;
      }
    });

    document.getElementById("retry-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      const maxInput = document.getElementById("retry-max-attempts");
      if (maxInput && maxInput.value) body.max_attempts = Number(maxInput.value);
      try {
        await PJ.api("POST", "/api/jobs/" + id + "/retry", body);
        message("Retry queued.", "success", true);
        await poll();
      } catch (e) {
        message("Could not retry: " + e.message, "error");
      }
    });
    document.getElementById("cancel-btn").addEventListener("click", async () => {
      try {
        const result = await PJ.api("POST", "/api/jobs/" + id + "/cancel");
        message(result.outcome === "canceled" ? "Job canceled." : "Cancel requested; the job stops at its next step.", "success");
        await poll();
      } catch (e) {
        message("Could not cancel: " + e.message, "error");
      }
    });
  });
})();
