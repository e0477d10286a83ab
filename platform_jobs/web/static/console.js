/* The operator console's queues, workers and schedules pages: poll their API, act with a reason. */
"use strict";

(() => {
  const { el } = PJ;

  /* One dialog per page asks for the reason of an action, then runs it; errors stay in the dialog. */
  function askReason(title, text, confirmLabel, run) {
    const dialog = document.getElementById("reason-dialog");
    const input = document.getElementById("reason-input");
    const error = document.getElementById("reason-error");
    const confirm = document.getElementById("reason-confirm");
    document.getElementById("reason-title").textContent = title;
    document.getElementById("reason-text").textContent = text;
    confirm.textContent = confirmLabel;
    input.value = "";
    error.hidden = true;
    const form = document.getElementById("reason-form");
    form.onsubmit = async (event) => {
      event.preventDefault();
      if (!input.value.trim()) { error.textContent = "Give a reason."; error.hidden = false; input.focus(); return; }
      confirm.disabled = true;
      try {
        await run(input.value.trim());
        dialog.close();
        poll();
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      } finally {
        confirm.disabled = false;
      }
    };
    document.getElementById("reason-cancel").onclick = () => dialog.close();
    dialog.showModal();
    input.focus();
  }

  function button(label, className, onClick, ariaLabel) {
    const node = el("button", "btn btn-sm " + (className || ""), label);
    node.type = "button";
    if (ariaLabel) node.setAttribute("aria-label", ariaLabel);
    node.addEventListener("click", onClick);
    return node;
  }

  function cell(row, content, className) {
    const td = el("td", className || "");
    if (content instanceof Node) td.append(content); else td.textContent = content === null || content === undefined ? "—" : String(content);
    row.append(td);
    return td;
  }

  function badge(text, kind) { return el("span", "status status-" + kind, text); }

  function jobLink(job) {
    const a = el("a", "mono", job.id.slice(0, 8));
    a.href = "/jobs/" + job.id;
    a.title = job.id;
    return a;
  }

  /* ---- queues ---- */
  function renderQueues(result, body) {
    body.replaceChildren(...result.queues.map((q) => {
      const row = el("tr", "queue-row");
      row.dataset.queue = q.name;
      cell(row, el("strong", "", q.name));
      const state = el("span");
      state.append(q.paused ? badge("paused", "canceled") : badge("active", "completed"));
      if (q.paused) state.append(el("small", "muted block", "by " + q.pause.paused_by + " · " + q.pause.reason));
      cell(row, state);
      const redis = el("span");
      if (q.redis.error) redis.append(el("span", "warn", q.redis.error));
      else {
        redis.append(el("strong", "num", String(q.redis.total)));
        const parts = Object.entries(q.redis.by_priority).filter(([, n]) => n > 0).map(([p, n]) => "p" + p + ": " + n);
        if (parts.length) redis.append(el("small", "muted block", parts.join(" · ")));
      }
      cell(row, redis);
      cell(row, q.ledger.ready + " ready · " + q.ledger.scheduled + " scheduled · " + q.ledger.waiting + " waiting", "num");
      cell(row, q.ledger.oldest_ready_seconds === null ? "—" : PJ.duration(q.ledger.oldest_ready_seconds), "num");
      cell(row, q.latency.started ? PJ.duration(q.latency.p50_seconds) + " / " + PJ.duration(q.latency.p95_seconds) +
        " (" + q.latency.started + " jobs)" : "—", "num");
      const verb = q.paused ? "resume" : "pause";
      const label = q.paused ? "Resume" : "Pause";
      cell(row, button(label, q.paused ? "btn-primary" : "btn-danger", () => askReason(
        label + " queue " + q.name,
        q.paused ? "Workers consume it again and the dispatcher publishes its jobs." :
          "Its jobs stay pending: not published by the dispatcher, not consumed by any worker, until it is resumed.",
        label, (reason) => PJ.api("POST", "/api/queues/" + encodeURIComponent(q.name) + "/" + verb, { reason })),
        label + " queue " + q.name), "c-actions");
      return row;
    }));
  }

  /* ---- workers ---- */
  function renderWorkers(result, body) {
    const error = document.getElementById("console-error");
    error.hidden = !result.error;
    error.textContent = result.error || "";
    if (!result.workers.length) {
      body.replaceChildren(el("p", "muted empty", "No worker answered. Start one: celery -A platform_jobs worker"));
      return;
    }
    body.replaceChildren(...result.workers.map((w) => {
      const card = el("section", "card worker-card" + (w.online ? "" : " worker-gone"));
      card.dataset.hostname = w.hostname;
      const head = el("div", "worker-head");
      const title = el("h2", "mono", w.hostname);
      head.append(title, w.online ? badge("online", "completed") : badge("gone", "failed"));
      if (w.online) {
        head.append(button("Shut down…", "btn-danger", () => askReason(
          "Shut down " + w.hostname,
          "A warm shutdown: it takes no new job, lets its running jobs finish, then exits. A supervisor may start it again.",
          "Shut down", (reason) => PJ.api("POST", "/api/workers/" + encodeURIComponent(w.hostname) + "/shutdown", { reason })),
          "Shut down worker " + w.hostname));
      }
      card.append(head);
      const facts = el("dl", "details");
      const add = (term, value) => { facts.append(el("dt", "", term)); const dd = el("dd"); if (value instanceof Node) dd.append(value); else dd.textContent = value === null || value === undefined ? "—" : String(value); facts.append(dd); };
      add("Last seen", PJ.timeElement(w.last_seen));
      if (w.online) {
        add("Pool", w.pool + " · concurrency " + w.concurrency + " · pid " + w.pid);
        add("Up", PJ.duration(w.uptime_seconds));
        add("Jobs done", w.jobs_done);
        add("Queues", w.queues.join(", ") || "none");
      }
      card.append(facts);
      if (w.processes.length) {
        const table = el("table", "jobs-table console-table processes");
        const head = el("thead"); const tr = el("tr");
        tr.append(el("th", "", "Process"), el("th", "", "Current job"), el("th", "", "Since"), el("th", "", "Last heartbeat"));
        head.append(tr);
        const tbody = el("tbody");
        w.processes.forEach((p) => {
          const row = el("tr");
          cell(row, String(p.pid), "mono");
          if (p.job) {
            const job = el("span"); job.append(jobLink(p.job), el("small", "muted", " " + p.job.task));
            if (p.job.progress !== null) job.append(el("small", "muted block", p.job.progress + "%" + (p.job.step ? " · " + p.job.step : "")));
            cell(row, job); cell(row, PJ.timeElement(p.job.started_at)); cell(row, PJ.timeElement(p.job.heartbeat_at));
          } else { cell(row, el("span", "muted", "idle")); cell(row, ""); cell(row, ""); }
          tbody.append(row);
        });
        table.append(head, tbody);
        card.append(table);
      }
      return card;
    }));
  }

  /* ---- RedBeat entries ---- */
  function renderBeat(result, body) {
    body.replaceChildren(...result.entries.map((e) => {
      const row = el("tr");
      row.dataset.entry = e.name;
      const name = el("span"); name.append(el("strong", "", e.name), el("small", "muted block mono", e.task));
      cell(row, name);
      cell(row, e.schedule, "mono small");
      cell(row, e.enabled ? badge("enabled", "completed") : badge("disabled", "canceled"));
      cell(row, e.enabled ? PJ.timeElement(e.next_run) : "—");
      cell(row, PJ.timeElement(e.last_run));
      if (e.job) { const job = el("span"); job.append(jobLink(e.job), el("small", "muted", " " + e.job.status)); cell(row, job); }
      else cell(row, "—");
      const verb = e.enabled ? "disable" : "enable";
      const label = e.enabled ? "Disable" : "Enable";
      cell(row, button(label, e.enabled ? "btn-danger" : "btn-primary", () => askReason(
        label + " " + e.name, e.enabled ? "Beat sends nothing for it until it is enabled again." : "Beat sends it again at its next time.",
        label, (reason) => PJ.api("POST", "/api/beat/entries/" + encodeURIComponent(e.name) + "/" + verb, { reason })),
        label + " schedule " + e.name), "c-actions");
      return row;
    }));
  }

  const RENDER = { queues: renderQueues, workers: renderWorkers, beat: renderBeat };
  let root = null;

  /* On a narrow screen the tables become stacked cards: each cell says what it is (app.css). */
  function labelCells() {
    document.querySelectorAll("table.console-table").forEach((table) => {
      const names = Array.from(table.querySelectorAll("thead th")).map((th) => th.firstChild ? th.firstChild.textContent.trim() : "");
      table.querySelectorAll("tbody tr").forEach((tr) => {
        Array.from(tr.children).forEach((td, i) => { if (names[i] && td.textContent.trim()) td.dataset.label = names[i]; });
      });
    });
  }

  function render(result) {
    RENDER[root.dataset.console](result, document.getElementById("console-body"));
    labelCells();
  }

  async function poll() {
    try {
      const result = await PJ.api("GET", root.dataset.pollUrl);
      render(result);
      PJ.live(true);
    } catch (e) {
      PJ.live(false);
      const error = document.getElementById("console-error");
      if (error) { error.hidden = false; error.textContent = e.message; }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    root = document.getElementById("console");
    if (!root) return;
    const initial = document.getElementById("initial-data");
    if (initial) render(JSON.parse(initial.textContent));
    poll();
    setInterval(poll, Number(root.dataset.pollMs) || 2000);
  });
})();
