/* The audit log: renders entries from /api/audit with the page's filters, polls, pages both ways. */
"use strict";

(() => {
  function state(entry) {
    const parts = [];
    const before = entry.before || {};
    const after = entry.after || {};
    if (before.status && after.status && before.status !== after.status) parts.push(before.status + " → " + after.status);
    if (after.cancel_requested && !before.cancel_requested) parts.push("stop requested");
    if (before.max_attempts !== undefined && after.max_attempts !== undefined && before.max_attempts !== after.max_attempts) {
      parts.push("max attempts " + before.max_attempts + " → " + after.max_attempts);
    }
    if (before.count !== undefined) parts.push(before.count + " of " + before.matching + " matching");
    return parts.join(" · ");
  }

  function row(entry) {
    const tr = PJ.el("tr", "audit-row");
    tr.dataset.id = String(entry.id);
    tr.dataset.action = entry.action;
    const when = PJ.el("td");
    when.append(PJ.timeElement(entry.at));
    const who = PJ.el("td", "small", entry.actor_email || entry.actor_id);
    const action = PJ.el("td");
    action.append(PJ.el("code", null, entry.action));
    const on = PJ.el("td", "small");
    if (entry.job_id) {
      const link = PJ.el("a", "mono", entry.resource_kind + " " + entry.job_id.slice(0, 8));
      link.href = "/jobs/" + entry.job_id;
      on.append(link);
    } else {
      on.append(entry.resource_kind + " " + entry.resource_id);
    }
    if (entry.detail && entry.detail.bulk_job_id) {
      const bulk = PJ.el("a", "small muted", " (bulk " + entry.detail.bulk_job_id.slice(0, 8) + ")");
      bulk.href = "/jobs/" + entry.detail.bulk_job_id;
      on.append(bulk);
    }
    const reason = PJ.el("td", "small audit-reason", entry.reason || "—");
    const change = PJ.el("td");
    change.append(PJ.el("p", "audit-state", state(entry)));
    tr.append(when, who, action, on, reason, change);
    return tr;
  }

  function render(result) {
    const fragment = document.createDocumentFragment();
    result.entries.forEach((entry) => fragment.append(row(entry)));
    document.getElementById("audit-body").replaceChildren(fragment);
    document.getElementById("audit-empty").hidden = result.entries.length > 0;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("audit-table");
    if (!table) return;
    const filters = new URLSearchParams(window.location.search);
    ["before", "after"].forEach((name) => filters.delete(name));
    ["since", "until"].forEach((name) => { if (!filters.get(name)) filters.delete(name); });
    const pager = { before: null, after: null, next: null, prev: null, generation: 0 };
    const newer = document.getElementById("audit-newer");
    const older = document.getElementById("audit-older");
    function apply(result) {
      pager.next = result.next_cursor;
      pager.prev = result.prev_cursor;
      if (!pager.prev) { pager.before = null; pager.after = null; }  // the newest page follows new entries
      newer.disabled = !pager.prev;
      older.disabled = !pager.next;
      render(result);
    }
    apply(JSON.parse(document.getElementById("initial-audit").textContent));

    let busy = false;
    async function poll() {
      if (busy || document.hidden || document.getElementById("audit-problem")) return;
      busy = true;
      const generation = pager.generation;
      const params = new URLSearchParams(filters);
      if (pager.before) params.set("before", pager.before);
      if (pager.after) params.set("after", pager.after);
      try {
        const result = await PJ.api("GET", "/api/audit?" + params.toString());
        if (generation === pager.generation) apply(result);
        PJ.live(true);
      } catch (e) {
        PJ.live(false);
      } finally {
        busy = false;
      }
    }
    setInterval(poll, Number(table.dataset.pollMs) || 2000);
    async function move(before, after) {
      pager.before = before;
      pager.after = after;
      pager.generation += 1;
      while (busy) await new Promise((resolve) => setTimeout(resolve, 20));
      await poll();
    }
    older.addEventListener("click", () => { if (pager.next) move(pager.next, null); });
    newer.addEventListener("click", () => { if (pager.prev) move(null, pager.prev); });
  });
})();
