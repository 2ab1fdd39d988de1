// /: workflows with their pipelines and recent run marks, the agents' health, and the newest
// runs across everything (filtered and paged, the filters in the URL). Follows run and agent
// changes live.

import { runNow, actionButton } from "./actions.js";
import { api, watch } from "./api.js";
import { badge, elapsed, emptyRow, formatDuration, h, link, runLink, runMark, table, timeElement, ago, workflowLink } from "./dom.js";

const PAGE_SIZE = 25;
const MARKS_PER_PIPELINE = 10;
const FILTERS = ["workflow", "pipeline", "phase", "trigger", "branch", "commit"];
const PHASES = ["Pending", "Running", "Succeeded", "Failed", "Cancelled"];
const TRIGGERS = ["manual", "cron", "webhook"];
const REFRESH_MS = 400;

/** A function that calls `work` at most once per `ms`, after the last of a burst of calls. */
export function debounce(work, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      work();
    }, ms);
  };
}

export function runRow(run, { showPipeline = true } = {}) {
  const status = run.status || {};
  const spec = run.spec || {};
  const env = spec.env || {};
  const commit = spec.commit || env.XENE_COMMIT;
  const branch = env.XENE_BRANCH;
  const source = [branch, commit ? commit.slice(0, 10) : null].filter(Boolean).join(" @ ");
  return h(
    "tr",
    { "data-run": run.metadata.name, "data-phase": status.phase || "Pending" },
    h("td", {}, runLink(run.metadata.name)),
    showPipeline ? h("td", {}, link(`/workflows/${encodeURIComponent(spec.workflow)}`, `${spec.workflow}/${spec.pipeline}`)) : null,
    h("td", {}, badge(status.phase || "Pending")),
    h("td", {}, spec.trigger?.type || "manual", spec.trigger?.name ? h("span", { class: "chip" }, spec.trigger.name) : null),
    h("td", { class: "mono hide-narrow" }, source || "—"),
    h("td", { class: "num" }, timeElement(status.startedAt || run.metadata.creationTimestamp, ago(status.startedAt || run.metadata.creationTimestamp))),
    h("td", { class: "num" }, formatDuration(elapsed(status.startedAt, status.finishedAt))),
  );
}

export const RUN_HEADERS = ["Run", "Pipeline", "Phase", "Trigger", "Branch / commit", "Started", "Duration"];

function workflowsPanel(app, workflows, pipelines, history) {
  const byWorkflow = new Map();
  for (const pipeline of pipelines) {
    const list = byWorkflow.get(pipeline.spec.workflow) || [];
    list.push(pipeline);
    byWorkflow.set(pipeline.spec.workflow, list);
  }
  const cards = workflows.map((workflow) => {
    const name = workflow.metadata.name;
    const rows = (byWorkflow.get(name) || [])
      .sort((a, b) => a.spec.pipeline.localeCompare(b.spec.pipeline))
      .map((pipeline) => {
        const runs = history[pipeline.metadata.name] || [];
        return h(
          "div",
          { class: "pipeline-row", "data-pipeline": pipeline.metadata.name },
          h("span", { class: "pname" }, pipeline.spec.pipeline),
          h("span", { class: "marks", "aria-label": `last runs of ${pipeline.metadata.name}` }, runs.slice().reverse().map(runMark), runs.length ? null : h("span", { class: "empty" }, "no runs yet")),
          pipeline.status?.phase === "Scheduled"
            ? h("span", { class: "chip" }, `on ${pipeline.status.agent}`)
            : badge("NotReady", "not scheduled", "hide-narrow"),
          app.canAct ? actionButton("Run", () => runNow(app, name, pipeline.spec.pipeline), { class: "small", "data-action": "run" }) : null,
        );
      });
    return h("article", { class: "workflow-card", "data-workflow": name }, h("h3", {}, workflowLink(name)), rows);
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "workflows-heading" },
    h("h2", { id: "workflows-heading" }, "Workflows"),
    cards.length ? h("div", { class: "workflow-list" }, cards) : h("p", { class: "empty" }, "No workflows yet: xenectl apply -f examples/hello.yaml"),
  );
}

/** An agent's name with its health: Ready, NotReady, or cordoned. */
export function agentBadge(agent, label = agent.metadata.name) {
  const phase = agent.status?.phase || "NotReady";
  if (agent.spec?.unschedulable) return badge("Cordoned", `${label} (cordoned)`);
  return phase === "Ready" ? badge("agent-Ready", label) : badge(phase, `${label} (${phase})`);
}

function agentsPanel(agents) {
  const ready = agents.filter((agent) => agent.status?.phase === "Ready").length;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "agents-heading", id: "agents-panel" },
    h("h2", { id: "agents-heading" }, link("/agents", "Agents"), ` — ${ready} of ${agents.length} ready`),
    h(
      "div",
      { class: "agent-summary" },
      agents.length ? agents.map((agent) => agentBadge(agent)) : h("span", { class: "empty" }, "No agent has registered: start one with xene-agent --server HOST:9090"),
    ),
  );
}

function filterForm(app, query, workflows, pipelines) {
  const select = (name, label, options) =>
    h(
      "label",
      {},
      label,
      h(
        "select",
        { name, "data-filter": name },
        h("option", { value: "" }, "any"),
        options.map(([value, text]) => h("option", { value, selected: query.get(name) === value }, text)),
      ),
    );
  const input = (name, label, placeholder) => h("label", {}, label, h("input", { type: "search", name, "data-filter": name, value: query.get(name) || "", placeholder }));
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter runs" },
    select("workflow", "Workflow", workflows.map((w) => [w.metadata.name, w.metadata.name])),
    select("pipeline", "Pipeline", pipelines.map((p) => [p.metadata.name, `${p.spec.workflow}/${p.spec.pipeline}`])),
    select("phase", "Phase", PHASES.map((p) => [p, p])),
    select("trigger", "Trigger", TRIGGERS.map((t) => [t, t])),
    input("branch", "Branch", "main"),
    input("commit", "Commit", "sha prefix"),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "reset" }, "Clear"),
  );
  const apply = () => {
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) next.set(name, value);
    }
    const search = next.toString();
    app.navigate(`/${search ? `?${search}` : ""}`, { replace: true });
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  form.addEventListener("change", (event) => { if (event.target.tagName === "SELECT") apply(); });
  form.addEventListener("reset", (event) => { event.preventDefault(); app.navigate("/", { replace: true }); });
  return form;
}

/** The workflows the pipelines belong to, by name, as `{metadata: {name}}`. */
function workflowsOf(pipelines) {
  const names = [...new Set(pipelines.map((pipeline) => pipeline.spec.workflow))].sort();
  return names.map((name) => ({ metadata: { name } }));
}

function runsQuery(query) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const name of [...FILTERS, "continue"]) {
    const value = query.get(name);
    if (value) params.set(name, value);
  }
  return params;
}

export async function renderOverview({ app, main, query, signal }) {
  document.title = "Overview · Xene";
  const params = runsQuery(query);
  // Workflows are named by their pipelines (every workflow has one): the overview needs no
  // Workflow objects, whose specs are the largest part of the store.
  const [pipelines, agents, history, runs] = await Promise.all([
    api("/pipelines", { signal }),
    api("/agents", { signal }),
    api(`/runhistory?perPipeline=${MARKS_PER_PIPELINE}`, { signal }),
    api(`/pipelineruns?${params}`, { signal }),
  ]);
  const workflows = { items: workflowsOf(pipelines.items) };
  const workflowsBox = h("div", {}, workflowsPanel(app, workflows.items, pipelines.items, history.pipelines));
  const agentsBox = h("div", {}, agentsPanel(agents.items));
  const tbody = h("tbody", { id: "recent-runs" });
  const pager = h("div", { class: "pager" });

  const fillRuns = (list) => {
    tbody.replaceChildren(...(list.items.length ? list.items.map((run) => runRow(run)) : [emptyRow(RUN_HEADERS.length, "No runs match.")]));
    const older = list.metadata.continue;
    const nextQuery = new URLSearchParams(query);
    nextQuery.set("continue", older || "");
    pager.replaceChildren(
      ...[
      query.get("continue") ? h("a", { href: `/?${new URLSearchParams([...query].filter(([k]) => k !== "continue"))}`, "data-link": true, class: "button" }, "← Newest") : null,
      older ? h("a", { href: `/?${nextQuery}`, "data-link": true, class: "button", rel: "next" }, "Older →") : null,
      h("span", {}, older ? (list.metadata.remainingItemCount !== undefined ? `${list.metadata.remainingItemCount} more` : "more match") : `${list.items.length} shown`),
      ].filter(Boolean),
    );
  };
  fillRuns(runs);

  main.replaceChildren(
    h("div", { class: "page-head" }, h("div", { class: "title" }, h("h1", {}, "Overview"), h("p", { class: "subtitle" }, "Workflows, agents and the latest runs, updated live."))),
    h(
      "div",
      { class: "grid-2" },
      h(
        "section",
        { class: "panel", "aria-labelledby": "runs-heading" },
        h("h2", { id: "runs-heading" }, "Recent runs"),
        filterForm(app, query, workflows.items, pipelines.items),
        table(RUN_HEADERS, [], { "aria-describedby": "runs-heading" }),
        pager,
      ),
      h("div", {}, agentsBox, workflowsBox),
    ),
  );
  main.querySelector("table tbody").replaceWith(tbody);

  const refreshRuns = debounce(async () => {
    try {
      const [fresh, freshHistory, freshPipelines] = await Promise.all([
        api(`/pipelineruns?${params}`, { signal }),
        api(`/runhistory?perPipeline=${MARKS_PER_PIPELINE}`, { signal }),
        api("/pipelines", { signal }),
      ]);
      fillRuns(fresh);
      workflowsBox.replaceChildren(workflowsPanel(app, workflowsOf(freshPipelines.items), freshPipelines.items, freshHistory.pipelines));
    } catch { /* the next change tries again */ }
  }, REFRESH_MS);
  const refreshAgents = debounce(async () => {
    try {
      agentsBox.replaceChildren(agentsPanel((await api("/agents", { signal })).items));
    } catch { /* the next change tries again */ }
  }, REFRESH_MS);
  const relist = async (plural, refresh) => {
    refresh();
    return Number((await api(`/${plural}?limit=1`, { signal })).metadata.resourceVersion);
  };
  watch("pipelineruns", { resourceVersion: Number(runs.metadata.resourceVersion), signal, onEvent: refreshRuns, resync: () => relist("pipelineruns", refreshRuns) });
  watch("agents", { resourceVersion: Number(agents.metadata.resourceVersion), signal, onEvent: refreshAgents, resync: () => relist("agents", refreshAgents) });
}
