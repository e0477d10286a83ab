/* The templates and schedules pages: forms and row actions through /api/templates and /api/schedules. */
"use strict";

(() => {
  function toast(message, ok) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast" + (ok ? " toast-success" : "");
    box.hidden = false;
    setTimeout(() => { box.hidden = true; }, 4000);
  }

  const reload = () => window.location.reload();
  const fail = (error) => toast(error.message, false);
  const workspaceQuery = () => {
    const ws = new URLSearchParams(window.location.search).get("workspace_id");
    return ws ? "?workspace_id=" + encodeURIComponent(ws) : "";
  };

  function templateBody(form) {
    let payload;
    try { payload = JSON.parse(form.payload.value || "{}"); } catch (e) { throw new Error("payload: " + e.message); }
    const options = {};
    if (form.priority.value !== "") options.priority = Number(form.priority.value);
    if (form.max_attempts.value !== "") options.max_attempts = Number(form.max_attempts.value);
    if (form.project_id.value.trim()) options.project_id = form.project_id.value.trim();
    const body = { type: form.type.value, payload, options };
    if (form.description.value.trim()) body.description = form.description.value.trim();
    return body;
  }

  function setupTemplates() {
    const form = document.getElementById("template-form");
    if (!form) return;
    const title = document.getElementById("template-form-title");
    const cancel = document.getElementById("template-cancel");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let body;
      try { body = templateBody(form); } catch (e) { fail(e); return; }
      const editing = form.dataset.mode === "edit";
      const call = editing
        ? PJ.api("PUT", "/api/templates/" + encodeURIComponent(form.dataset.name) + workspaceQuery(), body)
        : PJ.api("POST", "/api/templates" + workspaceQuery(), { ...body, name: form.name.value });
      call.then(reload, fail);
    });
    document.querySelectorAll(".edit-template").forEach((button) => {
      button.addEventListener("click", () => {
        const t = JSON.parse(button.dataset.template);
        form.dataset.mode = "edit";
        form.dataset.name = t.name;
        form.name.value = t.name;
        form.name.disabled = true;
        form.type.value = t.type;
        form.payload.value = JSON.stringify(t.payload, null, 2);
        form.priority.value = t.options.priority ?? "";
        form.max_attempts.value = t.options.max_attempts ?? "";
        form.project_id.value = t.options.project_id ?? "";
        form.description.value = t.description ?? "";
        title.textContent = "Edit " + t.name + " (saves v" + (t.version + 1) + ")";
        cancel.hidden = false;
        form.payload.focus();
      });
    });
    cancel.addEventListener("click", reload);
    document.querySelectorAll(".delete-template").forEach((button) => {
      button.addEventListener("click", () => {
        const name = button.closest("tr").dataset.name;
        if (!window.confirm("Delete template " + name + " and all its versions?")) return;
        PJ.api("DELETE", "/api/templates/" + encodeURIComponent(name) + workspaceQuery()).then(reload, fail);
      });
    });
  }

  function setupSchedules() {
    const form = document.getElementById("schedule-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      PJ.api("POST", "/api/schedules" + workspaceQuery(), {
        name: form.name.value, template: form.template.value, cron: form.cron.value, timezone: form.timezone.value,
      }).then(reload, fail);
    });
    document.querySelectorAll(".toggle-schedule").forEach((button) => {
      button.addEventListener("click", () => {
        const id = button.closest("tr").dataset.id;
        const verb = button.dataset.enabled === "true" ? "disable" : "enable";
        PJ.api("POST", "/api/schedules/" + id + "/" + verb).then(reload, fail);
      });
    });
    document.querySelectorAll(".delete-schedule").forEach((button) => {
      button.addEventListener("click", () => {
        const row = button.closest("tr");
        if (!window.confirm("Delete schedule " + row.dataset.name + "?")) return;
        PJ.api("DELETE", "/api/schedules/" + row.dataset.id).then(reload, fail);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => { setupTemplates(); setupSchedules(); });
})();
