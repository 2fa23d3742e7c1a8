// The console's shell: the API key, the router, the theme and the refresh
// loop. Pages (pages.js, errors.js) render into <main>.
import {h, clock} from "./dom.js";
import {pages} from "./pages.js";

const keyName = "hydrant.apiKey"; // sessionStorage: this tab only, gone when it closes
const themeName = "hydrant.theme";
const refreshMs = 5000;

// Unauthorized is thrown by api when the server wants (other) credentials.
export class Unauthorized extends Error {
  constructor(msg) { super(msg); this.name = "Unauthorized"; }
}

// api fetches a JSON API of this Hydrant with the API key, if one is kept,
// in the X-Api-Key header (never in the URL).
export async function api(path, opts = {}) {
  const headers = {Accept: "application/json", ...(opts.headers || {})};
  const key = sessionStorage.getItem(keyName);
  if (key) headers["X-Api-Key"] = key;
  const resp = await fetch(path, {...opts, headers, credentials: "omit", cache: "no-store"});
  if (resp.status === 401 || (resp.status === 403 && !key)) throw new Unauthorized(`HTTP ${resp.status}`);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!resp.ok) {
    const e = new Error(body?.error?.message || body?.message || `HTTP ${resp.status}`);
    e.status = resp.status;
    e.code = body?.error?.code || body?.__type || "";
    throw e;
  }
  return body;
}

// announce says msg to screen readers (and shows nothing).
export function announce(msg) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = msg; }, 50);
}

// moveFocus is set when the page changes under the reader (a link followed,
// signing in): the new page's <main> takes focus. A page just loaded keeps
// it at the start, so that the first Tab reaches the skip link.
const state = {paused: false, timer: null, rendering: false, lastRoute: "", moveFocus: false};

function route() {
  const parts = (location.hash.replace(/^#\/?/, "") || "streams").split("/").map(decodeURIComponent);
  return {page: parts[0], args: parts.slice(1)};
}

// render draws the current page. A refresh keeps the focused element (by
// id) and the scroll position; a new route moves focus to <main>.
async function render(refresh) {
  if (state.rendering) return;
  state.rendering = true;
  const main = document.getElementById("main");
  const key = location.hash;
  const newRoute = key !== state.lastRoute;
  state.lastRoute = key;
  const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : "";
  try {
    const r = route(); // a malformed hash (#/errors/%E0) throws URIError: shown below
    const page = pages[r.page] || pages.streams;
    if (refresh && page.static) return; // pages with forms refresh on request only
    const content = await page.render(r.args, {api, announce});
    const scroll = window.scrollY;
    main.replaceChildren(content);
    if (newRoute) {
      if (state.moveFocus) main.focus({preventScroll: true});
      state.moveFocus = false;
      document.title = `${content.dataset.title || "Console"} · Hydrant`;
    } else {
      window.scrollTo(0, scroll);
      if (focused) document.getElementById(focused)?.focus({preventScroll: true});
    }
    for (const a of document.querySelectorAll("nav a[data-page]")) {
      if (a.dataset.page === (pages[r.page] ? r.page : "streams") || (r.page === "errors" && a.dataset.page === "deliveries")) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    document.getElementById("updated").textContent = `Updated ${clock(Date.now())}`;
  } catch (e) {
    if (e instanceof Unauthorized) showLogin(main, "");
    else main.replaceChildren(h("h1", null, "Console"), h("p", {class: "message error", role: "alert"},
      e instanceof URIError ? "This page's address is malformed: choose a page above." : `Could not load: ${e.message}`));
  } finally {
    state.rendering = false;
    // Shown whenever a key is kept, also when it is refused (403).
    document.getElementById("logout").hidden = !sessionStorage.getItem(keyName);
  }
}

// showLogin asks for an API key; it is checked against /v1/status before
// it is kept.
function showLogin(main, error) {
  stopTimer();
  const input = h("input", {id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false"});
  const msg = h("p", {id: "login-error", class: error ? "message error" : "visually-hidden", role: "alert"}, error);
  const form = h("form", {class: "login", "aria-describedby": "login-help", onsubmit: async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    const resp = await fetch("/v1/status", {headers: {"X-Api-Key": key, Accept: "application/json"}, credentials: "omit", cache: "no-store"})
      .catch((e) => ({ok: false, status: e.message}));
    if (!resp.ok) {
      msg.className = "message error";
      msg.textContent = `The key was refused (HTTP ${resp.status}). It needs hydrant:GetStatus (an API key that may read every stream, "*").`;
      input.focus();
      return;
    }
    sessionStorage.setItem(keyName, key);
    state.lastRoute = "";
    state.moveFocus = true;
    announce("Signed in.");
    await render(false);
    startTimer();
  }},
  h("label", {for: "api-key"}, "API key", input),
  h("button", {type: "submit", class: "primary"}, "Sign in"));
  main.replaceChildren(h("section", {"aria-labelledby": "login-title"},
    h("h1", {id: "login-title"}, "Sign in"),
    h("p", {id: "login-help"}, "This Hydrant asks for credentials. Enter an API key from server.auth.api_keys that may read every stream. ",
      "It is kept in this tab only (sessionStorage) and sent in a header, never in a URL."),
    msg, form));
  document.title = "Sign in · Hydrant";
  input.focus();
}

function startTimer() {
  stopTimer();
  if (!state.paused) state.timer = setInterval(() => render(true), refreshMs);
}

function stopTimer() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function setTheme(theme) {
  const root = document.documentElement;
  const dark = theme === "dark" || (!theme && matchMedia("(prefers-color-scheme: dark)").matches);
  if (theme) root.dataset.theme = theme; else delete root.dataset.theme;
  const btn = document.getElementById("theme-toggle");
  btn.textContent = dark ? "Light theme" : "Dark theme";
  btn.setAttribute("aria-label", dark ? "Switch to the light theme" : "Switch to the dark theme");
}

function init() {
  setTheme(localStorage.getItem(themeName));
  document.getElementById("theme-toggle").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme === "dark" ||
      (!document.documentElement.dataset.theme && matchMedia("(prefers-color-scheme: dark)").matches);
    const next = dark ? "light" : "dark";
    localStorage.setItem(themeName, next);
    setTheme(next);
    announce(`${next === "dark" ? "Dark" : "Light"} theme.`);
  });
  const pause = document.getElementById("refresh-toggle");
  pause.addEventListener("click", () => {
    state.paused = !state.paused;
    pause.setAttribute("aria-pressed", String(state.paused));
    announce(state.paused ? "Updates paused." : "Updates resumed.");
    startTimer();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(keyName);
    announce("API key forgotten.");
    state.lastRoute = "";
    render(false);
  });
  window.addEventListener("hashchange", () => { state.moveFocus = true; render(false); });
  render(false).then(startTimer);
}

init();
