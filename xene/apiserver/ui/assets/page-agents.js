// /agents: every agent's health, labels, capacity, pipelines, running runs and last heartbeat;
// cordon and uncordon. Follows agent changes live.

import { actionButton, setAgentCordoned } from "./actions.js";
import { api, watch } from "./api.js";
import { ago, badge, emptyRow, h, runLink, table, timeElement } from "./dom.js";
import { debounce } from "./page-overview.js";

function agentRow(app, agent, reload) {
  const spec = agent.spec || {};
  const status = agent.status || {};
  const phase = status.phase || "NotReady";
  const cordoned = Boolean(spec.unschedulable);
  const labels = Object.entries(agent.metadata.labels || {});
  return h(
    "tr",
    { "data-agent": agent.metadata.name, "data-phase": phase, "data-cordoned": String(cordoned) },
    h("td", {}, h("strong", {}, agent.metadata.name), spec.hostname ? h("div", { class: "subtitle" }, spec.hostname) : null),
    h("td", {}, badge(phase === "Ready" ? "agent-Ready" : phase, phase), cordoned ? [" ", badge("Cordoned", "cordoned")] : null, status.message ? h("div", { class: "subtitle" }, status.message) : null),
    h("td", {}, labels.length ? labels.map(([key, value]) => h("span", { class: "chip" }, `${key}=${value}`)) : "—"),
    h("td", { class: "num" }, `${(status.runningRuns || []).length} / ${spec.capacity ?? 1}`),
    h("td", {}, (spec.executors || []).join(", ")),
    h("td", {}, (status.pipelines || []).length ? status.pipelines.map((p) => h("span", { class: "chip" }, p)) : "—"),
    h("td", {}, (status.runningRuns || []).length ? status.runningRuns.map((run) => h("div", {}, runLink(run))) : "—"),
    h("td", { class: "num" }, timeElement(status.lastHeartbeat, ago(status.lastHeartbeat))),
    h("td", {}, spec.version || "—"),
    h(
      "td",
      {},
      app.canAct
        ? actionButton(cordoned ? "Uncordon" : "Cordon", async () => {
            if (await setAgentCordoned(agent.metadata.name, !cordoned)) reload();
          }, { class: "small", "data-action": cordoned ? "uncordon" : "cordon" })
        : null,
    ),
  );
}

export async function renderAgents({ app, main, signal }) {
  document.title = "Agents · Xene";
  const box = h("div", {});
  const load = async () => {
    const agents = await api("/agents", { signal });
    const rows = agents.items.map((agent) => agentRow(app, agent, refresh));
    box.replaceChildren(
      table(["Agent", "State", "Labels", "Busy / capacity", "Executors", "Pipelines", "Running runs", "Last heartbeat", "Version", ""], rows.length ? rows : [emptyRow(10, "No agent has registered: start one with xene-agent --server HOST:9090.")]),
    );
    return agents;
  };
  const refresh = debounce(() => load().catch(() => {}), 300);
  const agents = await load();
  main.replaceChildren(
    h("div", { class: "page-head" }, h("div", { class: "title" }, h("h1", {}, "Agents"), h("p", { class: "subtitle" }, "Hosts that run pipelines; a cordoned agent keeps what it has and gets no new pipelines."))),
    h("section", { class: "panel" }, box),
  );
  // Heartbeat ages move on even when nothing changes.
  const ticker = setInterval(refresh, 10000);
  signal.addEventListener("abort", () => clearInterval(ticker), { once: true });
  watch("agents", {
    resourceVersion: Number(agents.metadata.resourceVersion),
    signal,
    onEvent: refresh,
    resync: async () => Number((await load()).metadata.resourceVersion),
  });
}
