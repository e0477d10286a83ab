/* Shared helpers of the pages: API calls with the CSRF header, time formatting, live timestamps. */
"use strict";

const PJ = (() => {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(method, url, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      options.headers["X-CSRFToken"] = csrf();
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch(url, options);
    if (response.status === 401) {
      window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      throw new Error("logged out");
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok || !data || !data.ok) {
      const message = data && data.error ? data.error.message : "HTTP " + response.status;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data.result;
  }

  function relative(iso) {
    if (!iso) return "—";
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    const future = seconds < 0;
    const s = Math.abs(seconds);
    let text;
    if (s < 5) return future ? "in a moment" : "just now";
    if (s < 60) text = s + "s";
    else if (s < 3600) text = Math.floor(s / 60) + "m " + (s % 60) + "s";
    else if (s < 86400) text = Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    else text = Math.floor(s / 86400) + "d";
    return future ? "in " + text : text + " ago";
  }

  function absolute(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  /* <time data-rel datetime=...>: relative text, absolute local time below and in the tooltip. */
  function timeElement(iso) {
    const wrap = document.createElement("span");
    wrap.className = "ts";
    if (!iso) { wrap.textContent = "—"; return wrap; }
    const time = document.createElement("time");
    time.dateTime = iso;
    time.dataset.rel = "";
    time.textContent = relative(iso);
    time.title = absolute(iso) + " (local) · " + iso;
    const abs = document.createElement("small");
    abs.className = "abs";
    abs.textContent = absolute(iso);
    wrap.append(time, abs);
    return wrap;
  }

  function refreshTimes() {
    document.querySelectorAll("time[data-rel]").forEach((t) => { t.textContent = relative(t.dateTime); });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function live(ok) {
    const node = document.getElementById("live");
    if (!node) return;
    node.classList.toggle("live-error", !ok);
    node.lastChild.textContent = ok ? " live · " + new Date().toLocaleTimeString() : " reconnecting…";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
    setInterval(refreshTimes, 1000);
  });

  return { api, relative, absolute, duration, timeElement, el, live, refreshTimes };
})();
