// The UI's entry point: who is logged in (GET /api/v1/whoami decides everything the UI offers),
// client-side routing on the path, and the page lifecycle (each page's streams are aborted
// when the user moves on).

import { api, ApiError, onUnauthenticated } from "./api.js";
import { h, toast } from "./dom.js";
import { renderAgents } from "./page-agents.js";
import { renderLogin } from "./page-login.js";
import { renderOverview } from "./page-overview.js";
import { renderRun } from "./page-run.js";
import { renderWorkflow } from "./page-workflow.js";

const ROUTES = [
  [/^\/$/, "overview", renderOverview],
  [/^\/workflows\/?$/, "overview", renderOverview],
  [/^\/workflows\/([^/]+)$/, "overview", renderWorkflow],
  [/^\/runs\/([^/]+)$/, "overview", renderRun],
  [/^\/agents\/?$/, "agents", renderAgents],
  [/^\/login$/, "login", renderLogin],
];

const app = {
  identity: null,
  controller: null,
  /** Action buttons exist only for roles that may act; the server enforces it as well. */
  get canAct() {
    return Boolean(this.identity) && this.identity.role !== "viewer";
  },
  navigate(path, { replace = false } = {}) {
    if (replace) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
    render();
  },
  async refreshIdentity() {
    try {
      this.identity = await api("/whoami");
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
      this.identity = null;
    }
    renderSession();
    return this.identity;
  },
};

function renderSession() {
  const box = document.getElementById("session");
  box.replaceChildren();
  const identity = app.identity;
  if (!identity) return;
  if (identity.authenticated) {
    box.append(
      h("span", { "data-role": identity.role }, `${identity.name || "signed in"} · ${identity.role}`),
      h("button", { type: "button", class: "small", id: "logout", onclick: logout }, "Log out"),
    );
  } else if (identity.role === "viewer") {
    box.append(h("span", { "data-role": identity.role }, "read-only"));
  }
}

async function logout() {
  try {
    await api("/logout", { method: "POST" });
  } catch (error) {
    toast(`Logging out failed: ${error.message}`, "error");
    return;
  }
  app.identity = null;
  renderSession();
  app.navigate("/login", { replace: true });
}

function markNav(section) {
  for (const item of document.querySelectorAll("[data-nav]")) {
    if (item.dataset.nav === section) item.setAttribute("aria-current", "page");
    else item.removeAttribute("aria-current");
  }
}

async function render() {
  if (app.controller) app.controller.abort();
  const controller = new AbortController();
  app.controller = controller;
  const path = location.pathname;
  const search = location.search;
  const main = document.getElementById("main");
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    markNav(null);
    main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, "No page here. "), h("a", { href: "/", "data-link": true }, "Back to the overview"));
    return;
  }
  const [pattern, section, page] = route;
  const params = pattern.exec(path).slice(1).map(decodeURIComponent);
  if (page !== renderLogin && !app.identity) {
    await app.refreshIdentity();
    if (!app.identity) {
      if (!controller.signal.aborted) app.navigate(`/login?next=${encodeURIComponent(path + search)}`, { replace: true });
      return;
    }
  }
  markNav(section);
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  try {
    await page({ app, main, params, signal: controller.signal, query: new URLSearchParams(search) });
  } catch (error) {
    if (controller.signal.aborted) return;
    const message = error instanceof ApiError ? error.message : String(error);
    main.replaceChildren(h("h1", {}, error.status === 404 ? "Not found" : "Something went wrong"), h("p", { class: "form-error" }, message));
  }
}

onUnauthenticated(() => {
  app.identity = null;
  renderSession();
  if (location.pathname !== "/login") {
    app.navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
  }
});

// Same-origin links marked data-link are routed here instead of reloading the page.
document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a[data-link]");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  const url = new URL(anchor.href);
  if (url.pathname + url.search !== location.pathname + location.search) app.navigate(url.pathname + url.search);
});
window.addEventListener("popstate", render);

render();
