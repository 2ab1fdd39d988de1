// The task DAG as SVG: tasks in columns by dependency level, edges from each task to its
// dependants. Every node is `<g class="node" data-task="NAME" data-state="STATE">`, updated in
// place as the run changes, so tests and users' tooling can read it.

import { elapsed, formatDuration, glyph, s } from "./dom.js";

const NODE_W = 196;
const NODE_H = 66;
const GAP_X = 52;
const GAP_Y = 16;
const PAD = 14;
const MAX_NAME = 22;

/** Level of each task: 0 without dependencies, else one more than its deepest dependency. */
export function levels(tasks) {
  const level = new Map();
  const visiting = new Set();
  const visit = (name) => {
    if (level.has(name)) return level.get(name);
    if (visiting.has(name)) return 0; // a cycle cannot be stored; stay safe anyway
    visiting.add(name);
    const deps = (tasks.get(name)?.dependencies || []).filter((dep) => tasks.has(dep));
    const value = deps.length ? 1 + Math.max(...deps.map(visit)) : 0;
    visiting.delete(name);
    level.set(name, value);
    return value;
  };
  for (const name of tasks.keys()) visit(name);
  return level;
}

/** Node positions: columns by level; within a column, ordered by the mean row of the parents. */
export function layout(tasks) {
  const level = levels(tasks);
  const columns = [];
  for (const [name, value] of level) (columns[value] ||= []).push(name);
  const row = new Map();
  columns.forEach((column, index) => {
    const weight = (name) => {
      const deps = (tasks.get(name)?.dependencies || []).filter((dep) => row.has(dep));
      return deps.length ? deps.reduce((sum, dep) => sum + row.get(dep), 0) / deps.length : 0;
    };
    column.sort((a, b) => (index ? weight(a) - weight(b) : 0) || a.localeCompare(b));
    column.forEach((name, position) => row.set(name, position));
  });
  const tallest = Math.max(1, ...columns.map((column) => column.length));
  const positions = new Map();
  columns.forEach((column, index) => {
    // Shorter columns are centred against the tallest one.
    const offset = ((tallest - column.length) * (NODE_H + GAP_Y)) / 2;
    column.forEach((name, position) => {
      positions.set(name, { x: PAD + index * (NODE_W + GAP_X), y: PAD + offset + position * (NODE_H + GAP_Y) });
    });
  });
  return {
    positions,
    width: PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X,
    height: PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y,
  };
}

function shorten(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function metaLine(status) {
  const phase = status?.phase || "Waiting";
  const duration = elapsed(status?.startedAt, status?.finishedAt);
  return `${phase}${duration !== null ? ` · ${formatDuration(duration)}` : ""}`;
}

function attemptLine(status, retryLimit) {
  const attempt = status?.attempt || 0;
  const used = Math.max(0, attempt - 1);
  return `attempt ${attempt || "–"} · retries ${used}/${retryLimit}`;
}

/**
 * Draw the DAG of `specTasks` (name → TaskSpec, for dependencies and retries) with the states of
 * `statusTasks` (name → TaskStatus); `onSelect(name)` is called when a node is chosen.
 */
export function createDag(specTasks, statusTasks, onSelect) {
  const tasks = new Map();
  for (const [name, spec] of Object.entries(specTasks || {})) tasks.set(name, spec);
  for (const name of Object.keys(statusTasks || {})) if (!tasks.has(name)) tasks.set(name, { dependencies: [] });
  const { positions, width, height } = layout(tasks);
  const svg = s("svg", { class: "dag", width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": `Task graph: ${tasks.size} tasks` });
  const edges = s("g", { class: "edges" });
  const nodes = s("g", { class: "nodes" });
  svg.append(edges, nodes);
  const elements = new Map();

  for (const [name, spec] of tasks) {
    const to = positions.get(name);
    for (const dep of spec.dependencies || []) {
      const from = positions.get(dep);
      if (!from) continue;
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_H / 2;
      const bend = (x2 - x1) / 2;
      const path = s("path", { class: "edge", d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, "data-from": dep, "data-to": name });
      edges.append(path);
    }
  }

  for (const [name, spec] of tasks) {
    const { x, y } = positions.get(name);
    const retryLimit = spec.retries?.limit || 0;
    const title = s("title", {}, name);
    const glyphText = s("text", { class: "glyph", x: 14, y: 27, "aria-hidden": "true" });
    const meta = s("text", { class: "meta state-text", x: 36, y: 44 });
    const attempts = s("text", { class: "meta attempts", x: 36, y: 59 });
    const node = s(
      "g",
      { class: "node state", transform: `translate(${x},${y})`, tabindex: 0, role: "button", "data-task": name },
      title,
      s("rect", { class: "box", width: NODE_W, height: NODE_H, rx: 7 }),
      s("rect", { class: "band", width: 5, height: NODE_H - 8, x: 3, y: 4, rx: 2 }),
      glyphText,
      s("text", { class: "name", x: 36, y: 24 }, shorten(name, MAX_NAME)),
      meta,
      attempts,
    );
    const choose = () => onSelect(name);
    node.addEventListener("click", choose);
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        choose();
      }
    });
    nodes.append(node);
    elements.set(name, { node, glyphText, meta, attempts, retryLimit, dependencies: spec.dependencies || [] });
  }

  let current = statusTasks || {};
  const update = (statuses) => {
    current = statuses || {};
    for (const [name, parts] of elements) {
      const status = current[name];
      const phase = status?.phase || "Waiting";
      if (parts.node.dataset.state !== phase) {
        parts.node.dataset.state = phase;
        parts.node.setAttribute("class", `node state state-${phase}${parts.node.classList.contains("selected") ? " selected" : ""}`);
        parts.glyphText.textContent = glyph(phase);
      }
      parts.meta.textContent = metaLine(status);
      parts.attempts.textContent = attemptLine(status, parts.retryLimit);
      parts.node.setAttribute("aria-label", `task ${name}: ${phase}`);
    }
    for (const edge of edges.children) {
      const done = current[edge.dataset.from]?.phase === "Succeeded";
      edge.classList.toggle("done", done);
    }
  };
  update(current);

  return {
    element: svg,
    update,
    /** Re-render durations of running tasks (called every second). */
    tick() {
      for (const [name, parts] of elements) {
        if (current[name]?.phase === "Running") parts.meta.textContent = metaLine(current[name]);
      }
    },
    select(name) {
      for (const [task, parts] of elements) {
        parts.node.classList.toggle("selected", task === name);
        parts.node.setAttribute("aria-pressed", task === name ? "true" : "false");
      }
    },
    has: (name) => elements.has(name),
  };
}
