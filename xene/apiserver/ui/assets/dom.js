// Building the DOM without innerHTML (every datum goes in as text), and the shared bits of
// presentation: state glyphs, badges, times and durations, toasts and dialogs.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "text") element.textContent = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("a", {href: "/x", class: "y"}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, the same way. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** The glyph shown next to every state, so colour is never the only cue. */
export const GLYPHS = {
  Pending: "○",
  Waiting: "○",
  Ready: "◎",
  Running: "▶",
  Succeeded: "✓",
  Success: "✓",
  Failed: "✗",
  Error: "✗",
  Skipped: "↷",
  Cancelled: "⊘",
  NotExecuted: "·",
  NotReady: "✗",
  "agent-Ready": "✓",
  Cordoned: "⏸",
  Unknown: "?",
};

export function glyph(state) {
  return GLYPHS[state] || "•";
}

/** A pill with the state's glyph and name, coloured by state. */
export function badge(state, label = state, extraClass = "") {
  return h(
    "span",
    { class: `badge state state-${state} ${extraClass}`.trim(), "data-state": state },
    h("span", { class: "glyph", "aria-hidden": "true" }, glyph(state)),
    label,
  );
}

/** A small square link for one run in a row of recent runs. */
export function runMark(run) {
  const when = run.startedAt || run.creationTimestamp;
  const label = `run ${run.number}: ${run.phase}${when ? `, ${formatTime(when)}` : ""}`;
  return h(
    "a",
    { class: `mark state state-${run.phase}`, href: `/runs/${encodeURIComponent(run.name)}`, "data-link": true, "data-phase": run.phase, title: label, "aria-label": label },
    glyph(run.phase),
  );
}

export function link(href, text, attrs = {}) {
  return h("a", { href, "data-link": true, ...attrs }, text);
}

export function runLink(name) {
  return link(`/runs/${encodeURIComponent(name)}`, name);
}

export function workflowLink(name) {
  return link(`/workflows/${encodeURIComponent(name)}`, name);
}

export function parseTime(value) {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : time;
}

// One formatter for all: Date.toLocaleString(options) builds a new one per call, which costs
// about a millisecond; a page with two thousand run marks would spend seconds in it.
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export function formatTime(value) {
  const time = parseTime(value);
  return time === null ? "—" : DATE_TIME.format(time);
}

/** Only the time of day (for events within one run). */
export function formatClock(value) {
  const time = parseTime(value);
  return time === null ? "" : TIME.format(time);
}

/** `1h 2m`, `3m 04s`, `12.3s` */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms) || ms < 0) return "—";
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** How long something took, or has taken so far while it still runs. */
export function elapsed(startedAt, finishedAt) {
  const start = parseTime(startedAt);
  if (start === null) return null;
  const end = parseTime(finishedAt) ?? Date.now();
  return Math.max(0, end - start);
}

export function ago(value) {
  const time = parseTime(value);
  if (time === null) return "never";
  const ms = Date.now() - time;
  if (ms < 0) return `in ${formatDuration(-ms)}`;
  return `${formatDuration(ms)} ago`;
}

export function timeElement(value, text) {
  return h("time", { datetime: value || undefined, title: value ? formatTime(value) : undefined }, text ?? formatTime(value));
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 4500);
}

/** A modal dialog built from `content`; resolves to the value `finish` was called with. */
export function modal(title, build) {
  return new Promise((resolve) => {
    const heading = h("h2", { id: `dialog-title-${Date.now()}` }, title);
    const dialog = h("dialog", { "aria-labelledby": heading.id });
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(null); });
    dialog.append(heading, ...[build(finish)].flat());
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector("[autofocus], input, button.primary, button");
    if (first) first.focus();
  });
}

/** Ask before doing something that destroys or stops work; resolves to true or false. */
export function confirmAction(title, message, confirmLabel, danger = true) {
  return modal(title, (finish) => [
    h("p", {}, message),
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { type: "button", onclick: () => finish(false) }, "Keep it"),
      h("button", { type: "button", class: danger ? "primary danger" : "primary", "data-confirm": true, onclick: () => finish(true) }, confirmLabel),
    ),
  ]).then((value) => value === true);
}

export function emptyRow(columns, text) {
  return h("tr", {}, h("td", { colspan: columns, class: "empty" }, text));
}

export function table(headers, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h("table", attrs, h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))), h("tbody", {}, rows)),
  );
}
