// A small YAML writer for showing a stored spec the way it was written (read-only).

const PLAIN = /^[A-Za-z0-9_./@-][A-Za-z0-9_ ./@:-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|[-+]?[0-9.eE_]+)$/i;

function scalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  const text = String(value);
  if (text === "") return '""';
  if (PLAIN.test(text) && !RESERVED.test(text) && !text.endsWith(" ") && !text.endsWith(":") && !text.includes(": ") && !text.includes(" #")) return text;
  return JSON.stringify(text);
}

function block(text, indent) {
  const pad = " ".repeat(indent);
  const chomp = text.endsWith("\n") ? "|" : "|-";
  return `${chomp}\n${text.replace(/\n$/, "").split("\n").map((line) => (line ? pad + line : "")).join("\n")}`;
}

function isCollection(value) {
  return value !== null && typeof value === "object" && Object.keys(value).length > 0;
}

function inline(value, indent) {
  if (Array.isArray(value)) return "[]";
  if (value !== null && typeof value === "object") return "{}";
  if (typeof value === "string" && value.includes("\n")) return block(value, indent);
  return scalar(value);
}

/** Lines of a non-empty mapping or sequence, each indented by `indent` spaces. */
function lines(value, indent) {
  const pad = " ".repeat(indent);
  const out = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isCollection(item)) {
        const inner = lines(item, indent + 2);
        inner[0] = `${pad}- ${inner[0].slice(indent + 2)}`;
        out.push(...inner);
      } else {
        out.push(`${pad}- ${inline(item, indent + 2)}`);
      }
    }
    return out;
  }
  for (const [key, item] of Object.entries(value)) {
    if (isCollection(item)) {
      out.push(`${pad}${scalar(key)}:`);
      out.push(...lines(item, Array.isArray(item) ? indent : indent + 2));
    } else {
      out.push(`${pad}${scalar(key)}: ${inline(item, indent + 2)}`);
    }
  }
  return out;
}

/** `value` as YAML text (objects as mappings, arrays as sequences, multi-line strings as blocks). */
export function toYaml(value) {
  return isCollection(value) ? `${lines(value, 0).join("\n")}\n` : `${inline(value, 0)}\n`;
}
