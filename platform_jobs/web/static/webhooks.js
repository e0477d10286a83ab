/* The webhook pages: create an endpoint (its secret shown once), and an endpoint's page that polls its messages
   and attempts and sends its actions (enable, disable, rotate, test, replay) through the JSON API. */
"use strict";

(() => {
  const byId = (id) => document.getElementById(id);
  const STATE_CLASS = { delivered: "completed", failed: "failed", pending: "pending", skipped: "canceled" };

  function say(text, kind) {
    const box = byId("action-message") || byId("form-message");
    if (!box) return;
    box.textContent = text;
    box.className = "flash flash-" + (kind || "info");
    box.hidden = false;
  }

  function showSecret(secret, href) {
    const card = byId("secret-card");
    byId("secret-value").value = secret;
    card.hidden = false;
    const next = byId("secret-continue");
    if (href) { next.href = href; next.hidden = false; }
    byId("secret-value").focus();
    byId("secret-value").select();
  }

  function eventTypes(form, otherId) {
    const checked = Array.from(form.querySelectorAll("input[name=event_types]:checked")).map((box) => box.value);
    const other = byId(otherId).value.split(",").map((name) => name.trim()).filter(Boolean);
    return checked.concat(other);
  }

  /* The list's state and failure cells follow the API (an endpoint that disables itself shows it). */
  function pollList() {
    const table = byId("endpoints-table");
    if (!table) return;
    const tick = async () => {
      try {
        const result = await PJ.api("GET", "/api/webhook-endpoints");
        result.endpoints.forEach((ep) => {
          const row = table.querySelector('tr[data-endpoint="' + ep.id + '"]');
          if (!row) return;
          const state = row.querySelector(".status");
          state.textContent = ep.enabled ? "enabled" : "disabled";
          state.className = "status " + (ep.enabled ? "status-completed" : "status-failed");
          state.title = ep.disabled_reason || "";
          row.querySelector("td.num").textContent = ep.consecutive_failures + " / " + ep.disable_after;
        });
      } catch (error) { /* the next tick tries again */ }
      setTimeout(tick, Number(table.dataset.pollMs) || 2000);
    };
    setTimeout(tick, Number(table.dataset.pollMs) || 2000);
  }

  function setupList() {
    pollList();
    const form = byId("endpoint-form");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      byId("form-message").hidden = true;
      const body = { project_id: byId("endpoint-project").value, url: byId("endpoint-url").value.trim(),
                     event_types: eventTypes(form, "endpoint-other-events") };
      const description = byId("endpoint-description").value.trim();
      if (description) body.description = description;
      try {
        const result = await PJ.api("POST", "/api/webhook-endpoints", body);
        form.reset();
        showSecret(result.secret, "/webhooks/" + result.endpoint.id);
      } catch (error) {
        say(error.message, "error");
      }
    });
  }

  function attemptsCell(attempts) {
    const list = PJ.el("ol", "attempts");
    attempts.forEach((a) => {
      const ok = a.status_code !== null && a.status_code >= 200 && a.status_code < 300;
      const item = PJ.el("li", "attempt " + (ok ? "attempt-completed" : "attempt-failed"));
      item.append(PJ.timeElement(a.attempted_at));
      item.append(PJ.el("span", "mono", " " + (a.status_code === null ? "no answer" : a.status_code) +
                        " · " + a.latency_ms + " ms"));
      if (a.response_excerpt) item.append(PJ.el("code", "code small", a.response_excerpt.slice(0, 200)));
      if (a.error) item.append(PJ.el("div", "error-text small", a.error));
      list.append(item);
    });
    return list;
  }

  function messageRow(message) {
    const row = PJ.el("tr", "job-row");
    row.dataset.message = message.id;
    row.dataset.status = message.status;
    const id = PJ.el("td");
    id.append(PJ.el("div", "mono small", message.id), PJ.timeElement(message.created_at));
    const job = PJ.el("td");
    job.append(PJ.el("div", null, message.event_type));
    if (message.job_id) {
      const link = PJ.el("a", "mono small", "job " + message.job_id.slice(0, 8));
      link.href = "/jobs/" + message.job_id;
      job.append(link);
    }
    const state = PJ.el("td");
    state.append(PJ.el("span", "status status-" + (STATE_CLASS[message.status] || "pending"), message.status));
    if (message.job_attempts !== null) {
      state.append(PJ.el("div", "small muted", "try " + message.job_attempts + " of " + message.job_max_attempts));
    }
    const tries = PJ.el("td");
    tries.append(attemptsCell(message.attempts));
    const retry = PJ.el("td");
    retry.append(message.next_retry_at ? PJ.timeElement(message.next_retry_at) : PJ.el("span", "muted", "—"));
    const actions = PJ.el("td");
    if (message.status !== "pending") {
      const button = PJ.el("button", "btn btn-sm replay-one", "Replay");
      button.type = "button";
      button.dataset.message = message.id;
      button.setAttribute("aria-label", "Replay message " + message.id);
      actions.append(button);
    }
    row.append(id, job, state, tries, retry, actions);
    return row;
  }

  function setupDetail() {
    const head = byId("endpoint");
    if (!head) return;
    const id = head.dataset.id;
    const base = "/api/webhook-endpoints/" + id;
    const pollMs = Number(head.dataset.pollMs) || 1000;
    let paused = false;

    function renderEndpoint(ep) {
      const state = byId("endpoint-state");
      state.textContent = ep.enabled ? "enabled" : "disabled";
      state.className = "status " + (ep.enabled ? "status-completed" : "status-failed");
      byId("endpoint-reason").textContent = ep.disabled_reason || "";
      byId("endpoint-reason").hidden = !ep.disabled_reason;
      byId("enable-btn").hidden = ep.enabled;
      byId("disable-btn").hidden = !ep.enabled;
      byId("endpoint-failures").textContent = ep.consecutive_failures + " / " + ep.disable_after;
      byId("endpoint-grace").textContent = ep.previous_secret_expires_at ? PJ.absolute(ep.previous_secret_expires_at) : "—";
      if (ep.message_counts) {
        Object.entries(ep.message_counts).forEach(([name, count]) => {
          const node = byId("count-" + name);
          if (node) node.textContent = count;
        });
      }
    }

    function renderMessages(data, append) {
      const body = byId("messages-body");
      if (!append) body.replaceChildren();
      data.messages.forEach((message) => body.append(messageRow(message)));
      byId("messages-empty").hidden = body.children.length > 0;
      const older = byId("messages-older");
      older.hidden = !data.next_cursor;
      older.dataset.cursor = data.next_cursor || "";
    }

    async function poll() {
      if (!paused) {
        try {
          const data = await PJ.api("GET", base + "/messages");
          renderEndpoint(data.endpoint);
          renderMessages(data, false);
          PJ.live(true);
        } catch (error) {
          PJ.live(false);
        }
      }
      setTimeout(poll, pollMs);
    }

    async function act(url, body, done) {
      try {
        const result = await PJ.api("POST", url, body);
        if (done) done(result);
      } catch (error) {
        say(error.message, "error");
      }
    }

    byId("enable-btn").addEventListener("click", () => act(base + "/enable", {}, (r) => {
      renderEndpoint(r.endpoint); say("Enabled: its failure count starts from zero.", "success");
    }));
    byId("disable-btn").addEventListener("click", () => act(base + "/disable", {}, (r) => {
      renderEndpoint(r.endpoint); say("Disabled: new messages are skipped until it is enabled.", "success");
    }));
    byId("rotate-btn").addEventListener("click", () => act(base + "/rotate-secret", {}, (r) => {
      renderEndpoint(r.endpoint); showSecret(r.secret, null);
      say("New secret below; the old one keeps signing until " + PJ.absolute(r.endpoint.previous_secret_expires_at) + ".", "success");
    }));
    byId("test-form").addEventListener("submit", (event) => {
      event.preventDefault();
      act(base + "/test", { max_attempts: Number(byId("test-attempts").value) || 6 }, (r) => {
        say("Test event " + r.message_id + " sent as job " + r.job_id.slice(0, 8) + ".", "success");
      });
    });
    const since = byId("replay-since");
    const dayAgo = new Date(Date.now() - 24 * 3600 * 1000 - new Date().getTimezoneOffset() * 60000);
    since.value = dayAgo.toISOString().slice(0, 19);
    byId("replay-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const when = new Date(since.value);
      act(base + "/replay", { since: when.toISOString() }, (r) => {
        say("Replaying " + r.count + " message" + (r.count === 1 ? "" : "s") + (r.more ? " (more left: replay again)" : "") + ".", "success");
      });
    });
    byId("messages-body").addEventListener("click", (event) => {
      const button = event.target.closest("button.replay-one");
      if (!button) return;
      act(base + "/replay", { message_id: button.dataset.message }, () => say("Replaying " + button.dataset.message + ".", "success"));
    });
    byId("messages-older").addEventListener("click", async (event) => {
      paused = true;  // paging through older messages: the list stops refreshing under the reader
      const data = await PJ.api("GET", base + "/messages?before=" + encodeURIComponent(event.target.dataset.cursor));
      renderMessages(data, true);
    });
    byId("events-form").addEventListener("submit", (event) => {
      event.preventDefault();
      PJ.api("PATCH", base, { event_types: eventTypes(event.target, "events-other") })
        .then(() => say("Event types saved.", "success")).catch((error) => say(error.message, "error"));
    });

    const first = JSON.parse(byId("initial-messages").textContent);
    renderEndpoint(first.endpoint);
    renderMessages(first, false);
    setTimeout(poll, pollMs);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const copy = byId("secret-copy");
    if (copy) {
      copy.addEventListener("click", () => {
        const value = byId("secret-value").value;
        if (navigator.clipboard) navigator.clipboard.writeText(value).catch(() => {});
      });
    }
    setupList();
    setupDetail();
  });
})();
