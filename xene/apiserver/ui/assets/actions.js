// What a user may do from the UI, each one REST call; those that stop or remove work ask first.

import { api } from "./api.js";
import { confirmAction, h, modal, toast } from "./dom.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function paramRow(name = "", value = "") {
  const row = h(
    "div",
    { class: "param-row" },
    h("input", { type: "text", class: "param-name", placeholder: "NAME", "aria-label": "Parameter name", value: name, spellcheck: "false" }),
    h("input", { type: "text", class: "param-value", placeholder: "value", "aria-label": "Parameter value", value }),
  );
  row.append(h("button", { type: "button", class: "small", "aria-label": "Remove this parameter", onclick: () => row.remove() }, "✕"));
  return row;
}

function readParameters(rows) {
  const parameters = {};
  for (const row of rows.querySelectorAll(".param-row")) {
    const name = row.querySelector(".param-name").value.trim();
    const value = row.querySelector(".param-value").value;
    if (!name && !value) continue;
    if (!ENV_NAME.test(name)) throw new Error(`'${name}' is not a parameter name: use letters, digits and _ (not first)`);
    parameters[name] = value;
  }
  return parameters;
}

/** Ask for parameters, start a run of `workflow/pipeline`, and go to its page. */
export async function runNow(app, workflow, pipeline) {
  const created = await modal(`Run ${workflow}/${pipeline} now`, (finish) => {
    const rows = h("div", { class: "params" });
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", "data-confirm": true }, "Start run");
    const form = h(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          error.textContent = "";
          let parameters;
          try {
            parameters = readParameters(rows);
          } catch (problem) {
            error.textContent = problem.message;
            return;
          }
          submit.disabled = true;
          try {
            const path = `/workflows/${encodeURIComponent(workflow)}/pipelines/${encodeURIComponent(pipeline)}/runs`;
            finish(await api(path, { method: "POST", body: { parameters } }));
          } catch (failure) {
            error.textContent = failure.message;
            submit.disabled = false;
          }
        },
      },
      h("p", { class: "subtitle" }, "Parameters reach the steps as environment variables."),
      rows,
      h("button", { type: "button", class: "small", onclick: () => rows.append(paramRow()) }, "+ Add parameter"),
      error,
      h("div", { class: "dialog-actions" }, h("button", { type: "button", onclick: () => finish(null) }, "Cancel"), submit),
    );
    return form;
  });
  if (created) {
    toast(`Started ${created.metadata.name}`);
    app.navigate(`/runs/${encodeURIComponent(created.metadata.name)}`);
  }
}

/** Cancel a run after asking. */
export async function cancelRun(name) {
  if (!(await confirmAction("Cancel this run?", `Run ${name} will be stopped; its running tasks are cancelled.`, "Cancel run"))) return null;
  const run = await api(`/pipelineruns/${encodeURIComponent(name)}/cancel`, { method: "POST" });
  toast(`Cancelling ${name}`);
  return run;
}

/** Start the run again with the same parameters and trigger, and go to the new run. */
export async function rerun(app, name) {
  const created = await api(`/pipelineruns/${encodeURIComponent(name)}/rerun`, { method: "POST" });
  toast(`Started ${created.metadata.name} (a rerun of ${name})`);
  app.navigate(`/runs/${encodeURIComponent(created.metadata.name)}`);
}

/** Suspend (after asking) or resume a trigger. */
export async function setTriggerSuspended(name, suspend) {
  if (suspend && !(await confirmAction("Suspend this trigger?", `Trigger ${name} starts no runs until it is resumed.`, "Suspend"))) return null;
  const trigger = await api(`/triggers/${encodeURIComponent(name)}/${suspend ? "suspend" : "resume"}`, { method: "POST" });
  toast(`Trigger ${name} ${suspend ? "suspended" : "resumed"}`);
  return trigger;
}

/** Cordon (after asking) or uncordon an agent. */
export async function setAgentCordoned(name, cordon) {
  if (cordon && !(await confirmAction("Cordon this agent?", `No new pipelines will be placed on agent ${name}; what it runs now carries on.`, "Cordon"))) return null;
  const agent = await api(`/agents/${encodeURIComponent(name)}/${cordon ? "cordon" : "uncordon"}`, { method: "POST" });
  toast(`Agent ${name} ${cordon ? "cordoned" : "uncordoned"}`);
  return agent;
}

/** A button that runs `action`, showing its failure as a toast. */
export function actionButton(label, action, attrs = {}) {
  const button = h("button", { type: "button", ...attrs }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      toast(`${label} failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
