/* A project's page: quotas as bars (80/90/100 % marks), keys, suspension history, polled from the API;
   rotate a key and show it once (the reveal token stays in this page's memory only); operators suspend
   and unsuspend with a reason. */
"use strict";

(() => {
  const { el } = PJ;
  let root = null;
  let canSuspend = false;

  function human(value, unit) {
    if (value === null || value === undefined) return "unknown";
    if (unit !== "bytes") return value.toLocaleString();
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = value, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (i ? v.toFixed(1) : String(v)) + " " + units[i];
  }

  function renderQuotas(quotas) {
    const box = document.getElementById("quotas");
    box.replaceChildren();
    for (const q of quotas) {
      const row = el("div", "quota");
      row.dataset.metric = q.metric;
      const label = el("div", "quota-label");
      label.append(el("strong", "", q.metric.replace(/_/g, " ")), " ",
        el("span", "muted", human(q.used, q.unit) + " of " + human(q.quota, q.unit) +
          (q.percent === null ? "" : " · " + q.percent + " %")));
      const track = el("div", "quota-track");
      track.setAttribute("role", "meter");
      track.setAttribute("aria-label", q.metric + " used");
      track.setAttribute("aria-valuemin", "0");
      track.setAttribute("aria-valuemax", "100");
      track.setAttribute("aria-valuenow", String(Math.min(q.percent || 0, 100)));
      const fill = el("div", "quota-fill" + (q.reached ? " quota-at-" + q.reached : ""));
      fill.style.width = Math.min(q.percent || 0, 100) + "%";
      track.append(fill);
      for (const mark of q.marks) {
        const tick = el("span", "quota-mark", "");
        tick.style.left = mark + "%";
        tick.title = mark + " %";
        track.append(tick);
      }
      row.append(label, track);
      box.append(row);
    }
  }

  function timeCell(iso) { const td = el("td"); td.append(PJ.timeElement(iso)); return td; }

  function renderKeys(keys) {
    const body = document.getElementById("keys-body");
    body.replaceChildren();
    if (!keys.length) {
      const td = el("td", "muted", "No keys yet (provisioning creates them).");
      td.colSpan = 7;
      body.append(el("tr").appendChild(td).parentNode);
      return;
    }
    for (const k of keys) {
      const row = el("tr");
      row.dataset.prefix = k.prefix;
      const state = el("td");
      state.append(el("span", "status status-key-" + (k.accepted ? "accepted" : "refused"),
        k.state + (k.accepted ? "" : " · refused")));
      row.append(el("td", "mono", k.prefix), el("td", "", k.role), el("td", "", String(k.version)), state,
        timeCell(k.created_at), timeCell(k.expires_at), timeCell(k.last_used_at));
      body.append(row);
    }
  }

  function renderSuspensions(items) {
    const box = document.getElementById("suspensions");
    box.replaceChildren();
    if (!items.length) { box.append(el("p", "muted", "Never suspended.")); return; }
    const list = el("ol", "suspensions");
    for (const s of items) {
      const item = el("li", "suspension" + (s.lifted_at ? "" : " suspension-active"));
      const head = el("p");
      head.append(el("strong", "", s.reason), " ", el("span", "muted", "by " + s.source + " · "), PJ.timeElement(s.created_at));
      const lifted = el("p", "muted");
      if (s.lifted_at) { lifted.append("Lifted by " + (s.lifted_by || "?") + " "); lifted.append(PJ.timeElement(s.lifted_at)); }
      else lifted.textContent = "In force";
      const details = el("details");
      details.append(el("summary", "", "Evidence"), el("pre", "evidence", JSON.stringify(s.evidence, null, 2)));
      item.append(head, lifted, details);
      list.append(item);
    }
    box.append(list);
  }

  function render(project) {
    const status = document.getElementById("project-status");
    status.textContent = project.status;
    status.className = "status status-project-" + project.status;
    const reason = document.getElementById("project-reason");
    reason.textContent = project.status_reason || "";
    reason.hidden = !project.status_reason;
    if (canSuspend) {
      document.getElementById("suspend-btn").hidden = project.status === "suspended";
      document.getElementById("unsuspend-btn").hidden = project.status !== "suspended";
    }
    renderQuotas(project.quotas);
    renderKeys(project.keys);
    renderSuspensions(project.suspensions);
  }

  async function poll() {
    try {
      const result = await PJ.api("GET", root.dataset.pollUrl);
      render(result.project);
      PJ.live(true);
    } catch (e) {
      PJ.live(false);
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /* Wait for the rotation job, then fetch the key once; the token is forgotten right after. */
  async function rotate(event) {
    event.preventDefault();
    const button = document.getElementById("rotate-btn");
    const status = document.getElementById("rotate-status");
    const role = document.getElementById("rotate-role").value;
    button.disabled = true;
    status.textContent = "Rotating…";
    try {
      const started = await PJ.api("POST", "/api/projects/" + root.dataset.projectId + "/keys/rotate", { role });
      let revealUrl = started.reveal_url;
      for (let i = 0; i < 120; i += 1) {
        const job = (await PJ.api("GET", "/api/jobs/" + started.job_id)).job;
        if (job.status === "completed") break;
        if (job.status === "failed" || job.status === "canceled") throw new Error("the rotation job " + job.status);
        status.textContent = "Rotating… (job " + job.status + ")";
        await sleep(500);
      }
      const key = await PJ.api("GET", revealUrl);
      revealUrl = null;
      document.getElementById("reveal-role").textContent = key.role;
      document.getElementById("reveal-version").textContent = String(key.version);
      const input = document.getElementById("reveal-key");
      input.value = key.key;
      document.getElementById("reveal").hidden = false;
      input.focus();
      input.select();
      status.textContent = "New " + key.role + " key " + key.prefix + "…";
      poll();
    } catch (e) {
      status.textContent = "Rotation failed: " + e.message;
    } finally {
      button.disabled = false;
    }
  }

  /* After "enqueue provision_project" the enqueue page sends us here with the reveal tokens in the URL
     fragment (#reveal=<job id>:<role>.<token>,…), which never reaches a server; it is dropped from the
     address bar at once, then each first key is fetched once when the job has issued them. */
  async function revealFirstKeys() {
    const match = /^#reveal=([0-9a-fA-F-]+):([A-Za-z0-9_.,-]+)$/.exec(location.hash);
    if (!match) return;
    history.replaceState(null, "", location.pathname + location.search);
    const items = match[2].split(",").map((part) => {
      const dot = part.indexOf(".");
      return { role: part.slice(0, dot), token: part.slice(dot + 1) };
    });
    const status = document.getElementById("first-keys-status");
    const list = document.getElementById("first-keys-list");
    document.getElementById("first-keys").hidden = false;
    status.textContent = "Provisioning…";
    try {
      for (let i = 0; i < 900; i += 1) {
        const job = (await PJ.api("GET", "/api/jobs/" + match[1])).job;
        if (job.status === "completed") break;
        if (job.status === "failed" || job.status === "canceled") throw new Error("the provisioning job " + job.status);
        status.textContent = "Provisioning… (job " + job.status + ")";
        await sleep(1000);
      }
      for (const item of items) {
        const key = await PJ.api("GET", "/api/projects/" + root.dataset.projectId + "/keys/reveal/" + item.token);
        item.token = null;
        const id = "first-key-" + key.role;
        const row = el("p", "first-key");
        const label = el("label", "", key.role + " key, version " + key.version);
        label.htmlFor = id;
        const input = el("input", "mono reveal-key");
        input.id = id;
        input.readOnly = true;
        input.value = key.key;
        input.dataset.role = key.role;
        row.append(label, " ", input);
        list.append(row);
      }
      status.textContent = "Provisioned.";
      poll();
    } catch (e) {
      status.textContent = "Could not show the first keys: " + e.message;
    }
  }

  function hideFirstKeys() {
    document.getElementById("first-keys-list").replaceChildren();
    document.getElementById("first-keys").hidden = true;
  }

  function hideReveal() {
    document.getElementById("reveal-key").value = "";
    document.getElementById("reveal").hidden = true;
  }

  function askReason(title, text, run) {
    const dialog = document.getElementById("reason-dialog");
    const input = document.getElementById("reason-input");
    const error = document.getElementById("reason-error");
    const confirm = document.getElementById("reason-confirm");
    document.getElementById("reason-title").textContent = title;
    document.getElementById("reason-text").textContent = text;
    confirm.textContent = title;
    input.value = "";
    error.hidden = true;
    document.getElementById("reason-form").onsubmit = async (event) => {
      event.preventDefault();
      if (!input.value.trim()) { error.textContent = "Give a reason."; error.hidden = false; input.focus(); return; }
      confirm.disabled = true;
      try {
        const result = await run(input.value.trim());
        dialog.close();
        render(result.project);
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

  document.addEventListener("DOMContentLoaded", () => {
    root = document.getElementById("project");
    if (!root) return;
    const initial = JSON.parse(document.getElementById("initial-data").textContent);
    canSuspend = initial.can_suspend;
    render(initial.project);
    document.getElementById("rotate-form").addEventListener("submit", rotate);
    document.getElementById("reveal-done").addEventListener("click", hideReveal);
    document.getElementById("first-keys-done").addEventListener("click", hideFirstKeys);
    revealFirstKeys();
    document.getElementById("reveal-copy").addEventListener("click", () => {
      const input = document.getElementById("reveal-key");
      input.select();
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(() => {});
    });
    const base = "/api/projects/" + root.dataset.projectId;
    if (canSuspend) {
      document.getElementById("suspend-btn").addEventListener("click", () => askReason("Suspend",
        "The tenant role loses its login (open sessions end) and every API key is refused until unsuspended.",
        (reason) => PJ.api("POST", base + "/suspend", { reason })));
      document.getElementById("unsuspend-btn").addEventListener("click", () => askReason("Unsuspend",
        "The project gets back its status, the tenant role its login and the keys work again.",
        (reason) => PJ.api("POST", base + "/unsuspend", { reason })));
    }
    setInterval(poll, Number(root.dataset.pollMs) || 3000);
  });
})();
