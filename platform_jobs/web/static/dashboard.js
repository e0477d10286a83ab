/* The dashboard: polls /api/stats for the counts and the charts' fragment for the SVG charts. */
"use strict";

(() => {
  function cell(text, className) {
    return PJ.el("td", className || "num", String(text));
  }

  function cuts(live, finished, key, columns) {
    const rows = {};
    live.forEach((entry) => { rows[entry[key]] = { live: entry, done: null }; });
    finished.forEach((entry) => {
      rows[entry[key]] = rows[entry[key]] || { live: null, done: null };
      rows[entry[key]].done = entry;
    });
    const fragment = document.createDocumentFragment();
    Object.keys(rows).sort().forEach((name) => {
      const tr = PJ.el("tr");
      tr.dataset.name = name;
      const first = PJ.el("td", "mono");
      if (key === "type") {
        const link = PJ.el("a", "", name);
        link.href = "/jobs?type=" + encodeURIComponent(name);
        first.append(link);
      } else {
        first.textContent = name;
      }
      tr.append(first);
      const { live: l, done: d } = rows[name];
      columns.forEach((state) => {
        const td = cell(!l ? 0 : (l[state] === undefined ? "–" : l[state]));  /* – : estimated in total only */
        td.dataset.state = state;
        if (state === "stalled" && l && l.stalled) td.classList.add("warn");
        tr.append(td);
      });
      tr.append(cell(d ? d.completed : 0), cell(d ? d.failed : 0));
      fragment.append(tr);
    });
    return fragment;
  }

  function render(stats) {
    document.querySelectorAll("[data-stat]").forEach((node) => {
      const [part, name] = node.dataset.stat.split(".");
      let value;
      if (part === "live") value = stats.live.states[name];
      else if (part === "finished") value = stats.finished.last_day[name];
      else if (part === "rollup") value = stats.finished.rollup.lag_seconds;
      if (value !== undefined && node.textContent !== String(value)) node.textContent = String(value);
    });
    const base = ["pending", "scheduled", "waiting", "running"];
    document.getElementById("by-queue").replaceChildren(
      cuts(stats.live.by_queue, stats.finished.last_hour_by_queue, "queue", base));
    document.getElementById("by-type").replaceChildren(
      cuts(stats.live.by_type, stats.finished.last_hour_by_type, "type", base.concat(["stalled"])));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("dashboard");
    if (!root) return;
    render(JSON.parse(document.getElementById("initial-stats").textContent));
    let busy = false;
    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        render(await PJ.api("GET", root.dataset.pollUrl));
        PJ.live(true);
      } catch (e) {
        PJ.live(false);
      } finally {
        busy = false;
      }
    }
    async function pollCharts() {
      if (document.hidden) return;
      try {
        const response = await fetch(root.dataset.chartsUrl, { credentials: "same-origin" });
        if (response.ok) document.getElementById("charts").innerHTML = await response.text();
      } catch (e) { /* the counts' poll shows the connection state */ }
    }
    setInterval(poll, Number(root.dataset.pollMs) || 2000);
    setInterval(pollCharts, Number(root.dataset.chartsPollMs) || 10000);
  });
})();
