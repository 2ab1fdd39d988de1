// /runs/{run}: the DAG live, the run's details, attempts and events, and the log of the run or
// of the selected task/step, followed while the run goes.

import { actionButton, cancelRun, rerun } from "./actions.js";
import { api, followLines, watch } from "./api.js";
import { createDag } from "./dag.js";
import { badge, elapsed, formatClock, formatDuration, formatTime, h, link, table, timeElement, emptyRow, runLink } from "./dom.js";
import { createLogView } from "./logview.js";
import { debounce } from "./page-overview.js";

const PIPELINE_LABEL = "xene.dev/pipeline";
const NUMBER_LABEL = "xene.dev/run-number";
const FINISHED = new Set(["Succeeded", "Failed", "Cancelled"]);

function detailsList(run) {
  const spec = run.spec;
  const status = run.status || {};
  const env = spec.env || {};
  const trigger = spec.trigger || {};
  const rows = [
    ["Pipeline", link(`/workflows/${encodeURIComponent(spec.workflow)}`, `${spec.workflow}/${spec.pipeline}`)],
    ["Phase", badge(status.phase || "Pending")],
    ["Trigger", [trigger.type || "manual", trigger.name ? ` (${trigger.name})` : "", trigger.rerunOf ? [" — rerun of ", runLink(trigger.rerunOf)] : ""]],
    trigger.scheduledTime ? ["Scheduled for", formatTime(trigger.scheduledTime)] : null,
    trigger.deliveryId ? ["Delivery", h("code", {}, trigger.deliveryId)] : null,
    env.XENE_BRANCH ? ["Branch", h("code", {}, env.XENE_BRANCH)] : null,
    spec.commit || env.XENE_COMMIT ? ["Commit", h("code", {}, spec.commit || env.XENE_COMMIT)] : null,
    env.XENE_REPOSITORY ? ["Repository", env.XENE_REPOSITORY] : null,
    ["Agent", status.agent || "—"],
    ["Created", timeElement(run.metadata.creationTimestamp)],
    ["Started", timeElement(status.startedAt)],
    ["Finished", timeElement(status.finishedAt)],
    ["Duration", h("span", { "data-duration": "run" }, formatDuration(elapsed(status.startedAt, status.finishedAt)))],
    status.message ? ["Message", status.message] : null,
    status.cancelRequested && !FINISHED.has(status.phase) ? ["Cancel", "requested"] : null,
  ].filter(Boolean);
  return h("dl", { class: "fields" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function parametersPanel(run) {
  const entries = Object.entries(run.spec.parameters || {});
  if (!entries.length) return null;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "params-heading" },
    h("h2", { id: "params-heading" }, "Parameters"),
    h("dl", { class: "fields mono" }, entries.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
  );
}

function attemptsPanel(run) {
  const attempts = run.status?.attempts || [];
  const rows = attempts.map((attempt) =>
    h(
      "tr",
      {},
      h("td", { class: "num" }, String(attempt.number)),
      h("td", {}, attempt.agent || "—"),
      h("td", { class: "num" }, timeElement(attempt.startedAt)),
      h("td", { class: "num" }, formatDuration(elapsed(attempt.startedAt, attempt.finishedAt))),
      h("td", {}, attempt.result || (attempt.finishedAt ? "—" : "running")),
    ),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "attempts-heading" },
    h("h2", { id: "attempts-heading" }, "Attempts"),
    table(["#", "Agent", "Started", "Duration", "Result"], rows.length ? rows : [emptyRow(5, "Not started on an agent yet.")]),
  );
}

function eventsList(events) {
  if (!events.length) return h("p", { class: "empty" }, "No events yet.");
  return h(
    "ul",
    { class: "events" },
    events.map((event) => {
      const where = [event.task, event.step].filter(Boolean).join("/");
      const time = formatClock(event.time);
      const kind = event.type || event.kind || "Event";
      const exitCode = event.exitCode ?? event.exit_code;
      return h("li", { "data-event": kind }, h("time", { datetime: event.time }, time), h("span", {}, h("strong", {}, kind), where ? ` ${where}` : "", event.message ? ` — ${event.message}` : "", exitCode !== undefined && exitCode !== null ? ` (exit ${exitCode})` : "", event.attempt > 1 ? ` · attempt ${event.attempt}` : ""));
    }),
  );
}

function logQuery(selection) {
  const query = new URLSearchParams();
  if (selection.task) query.set("task", selection.task);
  if (selection.step) query.set("step", selection.step);
  return query;
}

export async function renderRun({ app, main, params, signal }) {
  const [name] = params;
  document.title = `${name} · Xene`;
  let run = await api(`/pipelineruns/${encodeURIComponent(name)}`, { signal });
  const pipelineName = run.metadata.labels?.[PIPELINE_LABEL] || `${run.spec.workflow}.${run.spec.pipeline}`;
  let specTasks = {};
  try {
    specTasks = (await api(`/pipelines/${encodeURIComponent(pipelineName)}`, { signal })).spec.tasks || {};
  } catch {
    // The workflow was deleted or changed: the run's own task list still draws the graph.
  }

  const selection = { task: null, step: null };
  const logView = createLogView();
  const logTitle = h("span", { class: "log-title", id: "log-title" });
  const stepButtons = h("div", { class: "log-steps", role: "group", "aria-label": "Steps" });
  const rawLink = h("a", { class: "button small", id: "log-raw", download: "" }, "Raw");
  const search = h("input", { type: "search", placeholder: "Search the log", "aria-label": "Search the log", id: "log-search" });
  search.addEventListener("input", () => logView.search(search.value));
  let logController = null;

  const dag = createDag(specTasks, run.status?.tasks, (task) => select(selection.task === task ? null : task, null));

  const phaseBadge = h("span", { id: "run-phase" });
  const actions = h("div", { class: "actions" });
  const details = h("div", {});
  const params_ = h("div", {});
  const attempts = h("div", {});
  const events = h("div", { id: "events" });

  const renderActions = () => {
    actions.replaceChildren();
    if (!app.canAct) return;
    if (!FINISHED.has(run.status?.phase)) {
      actions.append(
        actionButton("Cancel", async () => {
          const cancelled = await cancelRun(name);
          if (cancelled) show(cancelled);
        }, { class: "danger", "data-action": "cancel" }),
      );
    }
    actions.append(actionButton("Rerun", () => rerun(app, name), { "data-action": "rerun" }));
  };

  const show = (fresh) => {
    const before = run.status?.phase;
    run = fresh;
    const phase = run.status?.phase || "Pending";
    phaseBadge.replaceChildren(badge(phase));
    phaseBadge.dataset.phase = phase;
    dag.update(run.status?.tasks);
    details.replaceChildren(detailsList(run));
    params_.replaceChildren(parametersPanel(run) || "");
    attempts.replaceChildren(attemptsPanel(run));
    if (before !== phase || !actions.childElementCount) renderActions();
    if (selection.task) renderSteps();
  };

  const refreshEvents = debounce(async () => {
    try {
      events.replaceChildren(eventsList((await api(`/pipelineruns/${encodeURIComponent(name)}/events`, { signal })).items));
    } catch { /* shown on the next change */ }
  }, 300);

  function stepNames(task) {
    const fromStatus = (run.status?.tasks?.[task]?.steps || []).map((step) => step.name);
    if (fromStatus.length) return fromStatus;
    return (specTasks[task]?.steps || []).map((step, index) => step.name || `step-${index + 1}`);
  }

  function renderSteps() {
    stepButtons.replaceChildren();
    if (!selection.task) return;
    const choice = (label, step) =>
      h("button", { type: "button", class: "small", "aria-pressed": selection.step === step ? "true" : "false", "data-step": step || "", onclick: () => select(selection.task, step) }, label);
    stepButtons.append(choice("All steps", null), ...stepNames(selection.task).map((step) => choice(step, step)));
  }

  async function followLog() {
    if (logController) logController.abort();
    const controller = new AbortController();
    logController = controller;
    signal.addEventListener("abort", () => controller.abort(), { once: true });
    const query = logQuery(selection);
    const base = `/pipelineruns/${encodeURIComponent(name)}/logs`;
    rawLink.href = `/api/v1${base}${query.size ? `?${query}` : ""}`;
    logTitle.textContent = selection.task ? `Log: ${selection.task}${selection.step ? ` / ${selection.step}` : ""}` : "Log: whole run";
    query.set("follow", "true");
    for (let attempt = 0; !controller.signal.aborted; attempt += 1) {
      logView.clear();
      try {
        await followLines(`${base}?${query}`, controller.signal, (batch) => logView.append(batch));
        return; // the run is finished and every line is in
      } catch (error) {
        if (controller.signal.aborted) return;
        logView.append([`[log stream interrupted: ${error.message}; reconnecting]`]);
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** attempt)));
      }
    }
  }

  function select(task, step) {
    selection.task = task;
    selection.step = task ? step : null;
    dag.select(task);
    renderSteps();
    followLog();
  }

  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        { class: "title" },
        h("h1", {}, name, " ", phaseBadge),
        h("p", { class: "subtitle" }, link(`/workflows/${encodeURIComponent(run.spec.workflow)}`, `${run.spec.workflow}/${run.spec.pipeline}`), ` · run ${run.spec.number}`),
      ),
      actions,
    ),
    h(
      "div",
      { class: "grid-2" },
      h(
        "div",
        {},
        h("section", { class: "panel", "aria-labelledby": "dag-heading" }, h("h2", { id: "dag-heading" }, "Tasks"), h("div", { class: "dag-wrap" }, dag.element)),
        h(
          "section",
          { class: "panel", "aria-labelledby": "log-title" },
          h("div", { class: "log-toolbar" }, logTitle, search, rawLink),
          stepButtons,
          logView.element,
          logView.status,
        ),
      ),
      h(
        "div",
        {},
        h("section", { class: "panel", "aria-labelledby": "details-heading" }, h("h2", { id: "details-heading" }, "Details"), details),
        params_,
        attempts,
        h("section", { class: "panel", "aria-labelledby": "events-heading" }, h("h2", { id: "events-heading" }, "Events"), events),
      ),
    ),
  );
  show(run);
  refreshEvents();
  followLog();

  const ticker = setInterval(() => {
    dag.tick();
    const duration = main.querySelector('[data-duration="run"]');
    if (duration && !FINISHED.has(run.status?.phase)) duration.textContent = formatDuration(elapsed(run.status?.startedAt, run.status?.finishedAt));
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(ticker), { once: true });

  const labelSelector = `${PIPELINE_LABEL}=${pipelineName},${NUMBER_LABEL}=${run.spec.number}`;
  watch("pipelineruns", {
    labelSelector,
    resourceVersion: Number(run.metadata.resourceVersion),
    signal,
    onEvent: (event) => {
      if (event.object?.metadata?.name !== name || event.type === "DELETED") return;
      show(event.object);
      refreshEvents();
    },
    resync: async () => {
      const list = await api(`/pipelineruns?labelSelector=${encodeURIComponent(labelSelector)}`, { signal });
      const fresh = list.items.find((item) => item.metadata.name === name);
      if (fresh) show(fresh);
      refreshEvents();
      return Number(list.metadata.resourceVersion);
    },
  });
}
