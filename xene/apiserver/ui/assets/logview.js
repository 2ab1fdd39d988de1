// A log pane: lines appended as they stream in, ANSI colours rendered as classes, a search
// that filters and highlights, and paging so a huge log keeps the page responsive (every line
// stays in memory and searchable; only the newest PAGE_LINES are in the DOM until asked for).

import { h } from "./dom.js";

const PAGE_LINES = 5000;
const ANSI = /\x1b\[([0-9;]*)m/g;
const OTHER_ESCAPES = /\x1b\[[0-9;?]*[A-Za-ln-z]/g;

/** Split a line into [text, classes] pieces according to its SGR escape codes. */
export function ansiPieces(line) {
  const pieces = [];
  let style = { bold: false, dim: false, italic: false, underline: false, fg: null, bg: null };
  let last = 0;
  const classes = () => [
    style.bold && "ansi-bold",
    style.dim && "ansi-dim",
    style.italic && "ansi-italic",
    style.underline && "ansi-underline",
    style.fg !== null && `ansi-fg-${style.fg}`,
    style.bg !== null && `ansi-bg-${style.bg}`,
  ].filter(Boolean).join(" ");
  const text = line.replace(OTHER_ESCAPES, "");
  for (const match of text.matchAll(ANSI)) {
    if (match.index > last) pieces.push([text.slice(last, match.index), classes()]);
    last = match.index + match[0].length;
    const codes = match[1] === "" ? [0] : match[1].split(";").map(Number);
    for (let i = 0; i < codes.length; i += 1) {
      const code = codes[i];
      if (code === 0) style = { bold: false, dim: false, italic: false, underline: false, fg: null, bg: null };
      else if (code === 1) style.bold = true;
      else if (code === 2) style.dim = true;
      else if (code === 3) style.italic = true;
      else if (code === 4) style.underline = true;
      else if (code === 22) { style.bold = false; style.dim = false; }
      else if (code === 23) style.italic = false;
      else if (code === 24) style.underline = false;
      else if (code >= 30 && code <= 37) style.fg = code - 30;
      else if (code === 39) style.fg = null;
      else if (code >= 40 && code <= 47) style.bg = code - 40;
      else if (code === 49) style.bg = null;
      else if (code >= 90 && code <= 97) style.fg = code - 90 + 8;
      else if (code === 38 || code === 48) {
        // 256-colour and true-colour forms: the basic 16 are kept, the rest shown plain.
        const mode = codes[i + 1];
        const value = codes[i + 2];
        if (mode === 5 && value < 16) style[code === 38 ? "fg" : "bg"] = code === 48 ? value % 8 : value;
        i += mode === 5 ? 2 : mode === 2 ? 4 : 0;
      }
    }
  }
  if (last < text.length) pieces.push([text.slice(last), classes()]);
  return pieces;
}

export function stripAnsi(line) {
  return line.replace(OTHER_ESCAPES, "").replace(ANSI, "");
}

function highlight(text, needle) {
  if (!needle) return [text];
  const parts = [];
  const lower = text.toLowerCase();
  let from = 0;
  let at;
  while ((at = lower.indexOf(needle, from)) >= 0) {
    if (at > from) parts.push(text.slice(from, at));
    parts.push(h("mark", {}, text.slice(at, at + needle.length)));
    from = at + needle.length;
  }
  if (from < text.length) parts.push(text.slice(from));
  return parts;
}

function renderLine(line, needle) {
  const element = h("span", { class: "line" });
  for (const [text, classes] of ansiPieces(line)) {
    const content = highlight(text, needle);
    element.append(classes ? h("span", { class: classes }, content) : h("span", {}, content));
  }
  return element;
}

export function createLogView() {
  let lines = [];
  let plain = [];
  let needle = "";
  let shownFrom = 0;
  const pre = h("pre", { class: "log", tabindex: 0, "aria-label": "Log output", "aria-live": "off", id: "log" });
  const status = h("span", { class: "log-status", id: "log-status" });

  const nearBottom = () => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  const matching = () => {
    const indexes = [];
    for (let i = 0; i < lines.length; i += 1) if (!needle || plain[i].toLowerCase().includes(needle)) indexes.push(i);
    return indexes;
  };
  const describe = (count) => {
    const what = needle ? `${count} of ${lines.length} lines match` : `${lines.length} lines`;
    status.dataset.lines = String(lines.length);
    status.firstChild ? (status.firstChild.textContent = what) : status.append(what);
  };
  const rerender = () => {
    const indexes = matching();
    shownFrom = Math.max(0, Math.min(shownFrom, indexes.length - PAGE_LINES));
    const start = Math.max(shownFrom, indexes.length - PAGE_LINES);
    const children = [];
    if (start > 0) {
      const more = h("button", { type: "button", class: "small more" }, `Show ${Math.min(PAGE_LINES, start)} earlier lines (${start} hidden)`);
      more.addEventListener("click", () => {
        shownFrom = Math.max(0, start - PAGE_LINES);
        rerenderFrom(shownFrom);
      });
      children.push(more);
    }
    for (const index of indexes.slice(start)) children.push(renderLine(lines[index], needle));
    pre.replaceChildren(...children);
    describe(indexes.length);
  };
  const rerenderFrom = (from) => {
    const indexes = matching();
    const children = [];
    if (from > 0) {
      const more = h("button", { type: "button", class: "small more" }, `Show ${Math.min(PAGE_LINES, from)} earlier lines (${from} hidden)`);
      more.addEventListener("click", () => rerenderFrom(Math.max(0, from - PAGE_LINES)));
      children.push(more);
    }
    for (const index of indexes.slice(from)) children.push(renderLine(lines[index], needle));
    pre.replaceChildren(...children);
    describe(indexes.length);
  };

  return {
    element: pre,
    status,
    clear() {
      lines = [];
      plain = [];
      shownFrom = 0;
      pre.replaceChildren();
      describe(0);
    },
    append(batch) {
      const follow = nearBottom();
      const fragment = document.createDocumentFragment();
      let added = 0;
      for (const line of batch) {
        lines.push(line);
        const text = stripAnsi(line);
        plain.push(text);
        if (!needle || text.toLowerCase().includes(needle)) {
          fragment.append(renderLine(line, needle));
          added += 1;
        }
      }
      pre.append(fragment);
      // Keep the DOM bounded while a long log streams in.
      const rendered = pre.querySelectorAll(".line").length;
      if (rendered > PAGE_LINES * 1.5) rerender();
      else describe(needle ? matching().length : lines.length);
      if (follow && added) pre.scrollTop = pre.scrollHeight;
    },
    search(text) {
      needle = text.trim().toLowerCase();
      shownFrom = 0;
      rerender();
    },
    text: () => lines.join("\n"),
  };
}
