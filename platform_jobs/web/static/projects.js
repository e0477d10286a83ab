/* The projects list: re-rendered from /api/projects every few seconds. */
"use strict";

(() => {
  const { el } = PJ;

  function render(projects) {
    const body = document.getElementById("projects-body");
    body.replaceChildren();
    if (!projects.length) {
      const row = el("tr");
      const td = el("td", "muted", "No projects yet.");
      td.colSpan = 5;
      row.append(td);
      body.append(row);
      return;
    }
    for (const p of projects) {
      const row = el("tr");
      row.dataset.projectId = p.id;
      const name = el("td");
      const link = el("a", "", p.name);
      link.href = "/projects/" + p.id;
      name.append(link, " ", el("small", "muted mono", p.slug));
      const status = el("td");
      status.append(el("span", "status status-project-" + p.status, p.status));
      const created = el("td");
      created.append(PJ.timeElement(p.created_at));
      row.append(name, status, el("td", "", p.plan.name), created, el("td", "", p.status_reason || "—"));
      body.append(row);
    }
  }

  async function poll() {
    const root = document.getElementById("projects");
    try {
      const result = await PJ.api("GET", root.dataset.pollUrl);
      render(result.projects);
      PJ.live(true);
    } catch (e) {
      PJ.live(false);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("projects");
    if (!root) return;
    poll();
    setInterval(poll, Number(root.dataset.pollMs) || 3000);
  });
})();
