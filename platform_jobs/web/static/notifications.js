/* Notifications: renders /api/notifications, polls it, marks read and unread. */
"use strict";

(() => {
  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("notes-list");
    if (!list) return;
    const select = document.getElementById("notes-state");
    let generation = 0;

    function item(note) {
      const li = PJ.el("li", "note" + (note.read_at ? " note-read" : " note-unread"));
      li.dataset.id = note.id;
      li.dataset.state = note.read_at ? "read" : "unread";
      const head = PJ.el("div", "note-head");
      const subject = PJ.el("strong", "note-subject", note.subject);
      const kind = PJ.el("code", "small muted", note.kind);
      head.append(subject, " ", kind, " ", PJ.timeElement(note.created_at));
      const body = PJ.el("p", "note-body", note.body);
      const toggle = PJ.el("button", "btn btn-sm note-toggle", note.read_at ? "Mark unread" : "Mark read");
      toggle.type = "button";
      toggle.setAttribute("aria-label", (note.read_at ? "Mark unread: " : "Mark read: ") + note.subject);
      toggle.addEventListener("click", async () => {
        toggle.disabled = true;
        try {
          await PJ.api("POST", "/api/notifications/" + note.id + (note.read_at ? "/unread" : "/read"), {});
          await poll();
        } catch (e) {
          toggle.disabled = false;
          toggle.title = e.message;
        }
      });
      li.append(head, body);
      if (note.project_id) {
        const link = PJ.el("a", "small", "Project backups");
        link.href = "/projects/" + note.project_id + "/backups";
        li.append(link);
      }
      li.append(toggle);
      return li;
    }

    function render(result) {
      const fragment = document.createDocumentFragment();
      result.items.forEach((note) => fragment.append(item(note)));
      list.replaceChildren(fragment);
      document.getElementById("notes-empty").hidden = result.items.length > 0;
      document.getElementById("unread-count").textContent = String(result.unread);
    }
    render(JSON.parse(document.getElementById("initial-notes").textContent));

    async function poll() {
      const mine = ++generation;
      try {
        const result = await PJ.api("GET", "/api/notifications?state=" + encodeURIComponent(select.value));
        if (mine === generation) render(result);
        PJ.live(true);
      } catch (e) {
        PJ.live(false);
      }
    }
    select.addEventListener("change", poll);
    setInterval(() => { if (!document.hidden) poll(); }, Number(list.dataset.pollMs) || 5000);
  });
})();
