// /workflows/{name}: the spec (read-only YAML), its pipelines with a run button, its triggers
// (last/next fire, missed ticks, webhook URL and whether its secret is present) and run history.

import { actionButton, runNow, setTriggerSuspended } from "./actions.js";
import { api, ApiError, watch } from "./api.js";
import { ago, badge, emptyRow, h, runMark, table, timeElement } from "./dom.js";
import { debounce, runRow } from "./page-overview.js";
import { toYaml } from "./yaml.js";

const WORKFLOW_LABEL = "xene.dev/workflow";

/** The spec without the empty maps and lists the server fills in, as it was likely written. */
function withoutEmpty(value) {
  if (Array.isArray(value)) return value.map(withoutEmpty);
  if (value === null || typeof value !== "object") return value;
  const kept = {};
  for (const [key, item] of Object.entries(value)) {
    const empty = item === null || (typeof item === "object" && Object.keys(item).length === 0);
    if (!empty) kept[key] = withoutEmpty(item);
  }
  return kept;
}
const HISTORY_PAGE = 25;

function isSuspended(trigger) {
  return Boolean(trigger.spec.suspend);
}

async function webhookInfo(trigger, signal) {
  try {
    return await api(`/triggers/${encodeURIComponent(trigger.metadata.name)}/webhook`, { signal });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

function triggerRow(app, trigger, webhook, reload) {
  const spec = trigger.spec;
  const status = trigger.status || {};
  const suspended = isSuspended(trigger);
  const when = spec.type === "cron" ? [h("code", {}, spec.schedule || "—"), spec.timezone ? ` (${spec.timezone})` : ""] : "on delivery";
  let hook = "—";
  if (spec.type === "webhook") {
    hook = webhook
      ? h(
          "div",
          {},
          webhook.urls.map((url) => h("div", {}, h("code", { class: "webhook-url" }, url))),
          badge(webhook.secret.present ? "Succeeded" : "Failed", webhook.secret.present ? "secret present" : "secret missing"),
          webhook.secret.problem ? h("div", { class: "subtitle" }, webhook.secret.problem) : null,
        )
      : h("span", { class: "empty" }, `secret from ${spec.secretEnv ? `$${spec.secretEnv}` : spec.secretFile || "—"}`);
  }
  return h(
    "tr",
    { "data-trigger": trigger.metadata.name, "data-suspended": String(suspended) },
    h("td", {}, spec.name, spec.description ? h("div", { class: "subtitle" }, spec.description) : null),
    h("td", {}, spec.type),
    h("td", {}, when),
    h("td", {}, (spec.pipelines || []).map((p) => h("span", { class: "chip" }, p.replace(`${spec.workflow}.`, "")))),
    h("td", {}, suspended ? badge("Cordoned", "suspended") : badge("Succeeded", "active")),
    h("td", { class: "num" }, status.lastFireTime ? timeElement(status.lastFireTime, ago(status.lastFireTime)) : "never"),
    h("td", { class: "num" }, spec.type === "cron" && !suspended ? timeElement(status.nextFireTime, status.nextFireTime ? ago(status.nextFireTime) : "—") : "—"),
    h("td", { class: "num" }, String(status.missedTicks || 0)),
    h("td", {}, hook),
    h(
      "td",
      {},
      app.canAct && spec.type === "cron"
        ? actionButton(suspended ? "Resume" : "Suspend", async () => {
            if (await setTriggerSuspended(trigger.metadata.name, !suspended)) reload();
          }, { class: "small", "data-action": suspended ? "resume" : "suspend" })
        : null,
    ),
  );
}

export async function renderWorkflow({ app, main, params, query, signal }) {
  const [name] = params;
  document.title = `${name} · Xene`;
  const selector = encodeURIComponent(`${WORKFLOW_LABEL}=${name}`);
  const runsQuery = new URLSearchParams({ workflow: name, limit: String(HISTORY_PAGE) });
  if (query.get("continue")) runsQuery.set("continue", query.get("continue"));
  const [workflow, pipelines, history, runs] = await Promise.all([
    api(`/workflows/${encodeURIComponent(name)}`, { signal }),
    api(`/pipelines?labelSelector=${selector}`, { signal }),
    api(`/runhistory?perPipeline=20&workflow=${encodeURIComponent(name)}`, { signal }),
    api(`/pipelineruns?${runsQuery}`, { signal }),
  ]);

  const pipelineRows = pipelines.items
    .sort((a, b) => a.spec.pipeline.localeCompare(b.spec.pipeline))
    .map((pipeline) => {
      const recent = history.pipelines[pipeline.metadata.name] || [];
      const status = pipeline.status || {};
      return h(
        "tr",
        { "data-pipeline": pipeline.metadata.name },
        h("td", {}, h("strong", {}, pipeline.spec.pipeline), pipeline.metadata.annotations?.["xene.dev/description"] ? h("div", { class: "subtitle" }, pipeline.metadata.annotations["xene.dev/description"]) : null),
        h("td", {}, `${Object.keys(pipeline.spec.tasks || {}).length}`),
        h("td", {}, pipeline.spec.executor),
        h("td", {}, status.phase === "Scheduled" ? badge("Succeeded", `on ${status.agent}`) : badge("NotReady", status.reason || "not scheduled"), status.message ? h("div", { class: "subtitle" }, status.message) : null),
        h("td", {}, h("span", { class: "marks" }, recent.slice().reverse().map(runMark))),
        h("td", {}, app.canAct ? actionButton("Run now", () => runNow(app, name, pipeline.spec.pipeline), { class: "small primary", "data-action": "run" }) : null),
      );
    });

  const triggersBox = h("div", {});
  const loadTriggers = async () => {
    const triggers = (await api(`/triggers?labelSelector=${selector}`, { signal })).items;
    const hooks = await Promise.all(triggers.map((t) => (t.spec.type === "webhook" ? webhookInfo(t, signal) : null)));
    const rows = triggers.map((trigger, index) => triggerRow(app, trigger, hooks[index], loadTriggers));
    triggersBox.replaceChildren(
      table(["Trigger", "Type", "When", "Pipelines", "State", "Last fired", "Next", "Missed", "Webhook", ""], rows.length ? rows : [emptyRow(10, "No triggers: runs start by hand (Run now, xenectl run).")]),
    );
  };
  await loadTriggers();

  const runsBody = h("tbody", {});
  const pager = h("div", { class: "pager" });
  const fillRuns = (list) => {
    runsBody.replaceChildren(...(list.items.length ? list.items.map((run) => runRow(run)) : [emptyRow(7, "No runs yet.")]));
    const older = list.metadata.continue;
    pager.replaceChildren(
      ...[
      query.get("continue") ? h("a", { href: `/workflows/${encodeURIComponent(name)}`, "data-link": true, class: "button" }, "← Newest") : null,
      older ? h("a", { href: `/workflows/${encodeURIComponent(name)}?continue=${encodeURIComponent(older)}`, "data-link": true, class: "button" }, "Older →") : null,
      ].filter(Boolean),
    );
  };
  fillRuns(runs);
  const runsTable = table(["Run", "Pipeline", "Phase", "Trigger", "Branch / commit", "Started", "Duration"], []);
  runsTable.querySelector("tbody").replaceWith(runsBody);

  const description = workflow.metadata.annotations?.["xene.dev/description"];
  main.replaceChildren(
    h("div", { class: "page-head" }, h("div", { class: "title" }, h("h1", {}, name), h("p", { class: "subtitle" }, description || `Workflow · ${pipelines.items.length} pipeline(s)`))),
    h("section", { class: "panel", "aria-labelledby": "pipelines-heading" }, h("h2", { id: "pipelines-heading" }, "Pipelines"), table(["Pipeline", "Tasks", "Executor", "Placement", "Recent runs", ""], pipelineRows)),
    h("section", { class: "panel", "aria-labelledby": "triggers-heading" }, h("h2", { id: "triggers-heading" }, "Triggers"), triggersBox),
    h(
      "div",
      { class: "grid-2" },
      h("section", { class: "panel", "aria-labelledby": "history-heading" }, h("h2", { id: "history-heading" }, "Run history"), runsTable, pager),
      h(
        "section",
        { class: "panel", "aria-labelledby": "spec-heading" },
        h("h2", { id: "spec-heading" }, "Spec"),
        h("pre", { class: "yaml", id: "spec-yaml", tabindex: 0 }, toYaml({ apiVersion: workflow.apiVersion, kind: workflow.kind, metadata: { name, ...(Object.keys(workflow.metadata.labels || {}).length ? { labels: workflow.metadata.labels } : {}) }, spec: withoutEmpty(workflow.spec) })),
      ),
    ),
  );

  const refresh = debounce(async () => {
    try {
      fillRuns(await api(`/pipelineruns?${runsQuery}`, { signal }));
      await loadTriggers();
    } catch { /* the next change tries again */ }
  }, 500);
  watch("pipelineruns", {
    labelSelector: `${WORKFLOW_LABEL}=${name}`,
    resourceVersion: Number(runs.metadata.resourceVersion),
    signal,
    onEvent: refresh,
    resync: async () => {
      refresh();
      return Number((await api(`/pipelineruns?${runsQuery}`, { signal })).metadata.resourceVersion);
    },
  });
}
