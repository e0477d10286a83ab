/* A job's page: polls /api/jobs/<id> until the job ends; Retry and Cancel through the API. */
"use strict";

(() => {
  const ACTIVE = new Set(["pending", "running"]);
  let timer = null;
  let lastLogSeq = -1;

  function setText(id, text) {
    const node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  function etaText(job, eta) {
    if (job.status === "completed") return "Finished in " + PJ.duration((new Date(job.completed_at) - new Date(job.started_at)) / 1000) + ".";
    if (!ACTIVE.has(job.status)) return "Ended " + PJ.relative(job.completed_at || job.updated_at) + ".";
    if (!eta) return "No estimate yet: no earlier " + job.type + " job has completed.";
    const wait = eta.wait_seconds ? " (of which about " + PJ.duration(eta.wait_seconds) + " waiting for its turn)" : "";
    if (!eta.samples) return "About " + PJ.duration(eta.remaining_seconds) + " before it starts" + wait;
    return "About " + PJ.duration(eta.remaining_seconds) + " remaining" + wait + " · median of the last " + eta.samples +
      " completed " + job.type + " runs is " + PJ.duration(eta.median_seconds) + ", scaled by the progress left";
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
      const pane = document.getElementById("job-logs");
      const stick = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 8;
      if (logs.length) {
        pane.replaceChildren(...logs.map((entry) => {
          const line = PJ.el("div", "log-line");
          line.append(PJ.el("span", "log-time", PJ.absolute(entry.at).slice(11)), document.createTextNode(entry.line));
          return line;
        }));
      }
      setText("log-count", logs.length ? logs.length + (logs.length === 1 ? " line" : " lines") : "");
      if (stick) pane.scrollTop = pane.scrollHeight;
    }
  }

  function message(text, kind) {
    const node = document.getElementById("action-message");
    node.textContent = text;
    node.className = "flash flash-" + kind;
    node.hidden = !text;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("job");
    if (!root) return;
    const id = root.dataset.id;
    const operator = root.dataset.operator === "true";
    const every = Number(root.dataset.pollMs) || 1000;
    const initial = JSON.parse(document.getElementById("initial-job").textContent);
    render(initial.job, initial.logs, initial.eta, operator);

    async function poll() {
      try {
        const result = await PJ.api("GET", "/api/jobs/" + id);
        const job = result.job;
        render(job, job.logs, job.eta, operator);
        PJ.live(true);
        if (!ACTIVE.has(job.status)) stop();
      } catch (e) {
        PJ.live(false);
        if (e.status === 404) stop();
      }
    }
    function start() {
      if (timer === null) timer = setInterval(poll, every);
      const live = document.getElementById("live");
      if (live) live.hidden = false;
    }
    function stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      const live = document.getElementById("live");
      if (live) live.hidden = true;
    }
    if (ACTIVE.has(initial.job.status)) start(); else stop();

    document.getElementById("retry-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      const maxInput = document.getElementById("retry-max-attempts");
      if (maxInput && maxInput.value) body.max_attempts = Number(maxInput.value);
      try {
        await PJ.api("POST", "/api/jobs/" + id + "/retry", body);
        message("Retry queued.", "success");
        await poll();
        start();
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
