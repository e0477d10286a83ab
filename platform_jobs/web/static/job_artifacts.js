/* A job's artifacts on its page: the list (refreshed every few seconds: a running job attaches more, and the
   sweep archives a finished job's log), downloads, and signed short-lived links made through the API. */
"use strict";

(() => {
  function size(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KiB";
    return (bytes / 1024 / 1024).toFixed(1) + " MiB";
  }

  function item(artifact) {
    const li = PJ.el("li", "artifact");
    li.dataset.name = artifact.name;
    const link = PJ.el("a", "mono artifact-name", artifact.name);
    link.href = artifact.download_url;
    link.setAttribute("download", "");
    const kind = artifact.kind === "log" ? " · archived log, " + artifact.lines + " lines" : "";
    const button = PJ.el("button", "btn btn-sm artifact-link", "Get link");
    button.type = "button";
    button.dataset.name = artifact.name;
    button.setAttribute("aria-label", "Signed link to " + artifact.name);
    const sum = PJ.el("span", "mono muted small", "sha256 " + artifact.sha256.slice(0, 12) + "…");
    sum.title = "SHA-256 " + artifact.sha256;
    li.append(link, PJ.el("span", "muted small", artifact.content_type + " · " + size(artifact.size) + kind), sum, button);
    return li;
  }

  function render(list) {
    const target = document.getElementById("artifacts");
    if (!list.length) {
      target.replaceChildren(PJ.el("li", "muted", "No artifacts yet."));
    } else {
      target.replaceChildren(...list.map(item));
    }
    const count = document.getElementById("artifact-count");
    count.textContent = list.length + (list.length === 1 ? " file" : " files");
    const archived = list.find((a) => a.kind === "log");
    const note = document.getElementById("log-archived");
    if (note && archived) {
      const link = PJ.el("a", null, archived.name);
      link.href = archived.download_url;
      note.replaceChildren("The whole log (" + archived.lines + " lines) is archived as ", link,
        "; the download has every line.");
      note.hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const card = document.getElementById("artifacts-card");
    if (!card) return;
    const id = card.dataset.jobId;
    let signature = document.getElementById("initial-artifacts").textContent;
    render(JSON.parse(signature));

    async function refresh() {
      try {
        const list = (await PJ.api("GET", "/api/jobs/" + id + "/artifacts")).artifacts;
        const next = JSON.stringify(list);
        if (next !== signature) {
          signature = next;
          render(list);
        }
      } catch (e) {
        /* the job page's own poll shows the connection state */
      }
    }
    setInterval(refresh, Number(card.dataset.pollMs) || 5000);

    card.addEventListener("click", async (event) => {
      const button = event.target.closest("button.artifact-link");
      if (!button) return;
      button.disabled = true;
      try {
        const link = await PJ.api("POST", "/api/jobs/" + id + "/artifacts/" + encodeURIComponent(button.dataset.name) + "/link");
        const box = document.getElementById("artifact-link-box");
        document.getElementById("artifact-link-label").textContent = "Signed link to " + button.dataset.name +
          " (works without logging in until " + PJ.absolute(link.expires_at) + ")";
        const input = document.getElementById("artifact-link-url");
        input.value = link.url;
        box.hidden = false;
        input.focus();
        input.select();
      } catch (e) {
        window.alert("Could not make a link: " + e.message);
      } finally {
        button.disabled = false;
      }
    });
  });
})();
