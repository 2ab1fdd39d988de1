// /login: trade the API token for an HttpOnly session cookie (POST /api/v1/login).

import { api } from "./api.js";
import { h } from "./dom.js";

function safeNext(query) {
  const next = query.get("next") || "/";
  // Only paths of this site: never an absolute or protocol-relative URL.
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export async function renderLogin({ app, main, query }) {
  document.title = "Log in · Xene";
  const identity = await app.refreshIdentity();
  if (identity) {
    app.navigate(safeNext(query), { replace: true });
    return;
  }
  const input = h("input", { type: "password", name: "token", id: "token", autocomplete: "current-password", required: true, autofocus: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        submit.disabled = true;
        try {
          await api("/login", { method: "POST", body: { token: input.value } });
          await app.refreshIdentity();
          app.navigate(safeNext(query), { replace: true });
        } catch (failure) {
          error.textContent = failure.status === 401 ? "That token is not valid for this server." : failure.message;
          input.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("label", { for: "token" }, "API token", input),
    submit,
    error,
  );
  main.replaceChildren(
    h(
      "section",
      { class: "panel login" },
      h("h1", {}, "Log in to Xene"),
      h("p", { class: "subtitle" }, "This server requires its API token (xene-apiserver --api-token). It is kept in a session cookie that scripts cannot read."),
      form,
    ),
  );
  input.focus();
}
