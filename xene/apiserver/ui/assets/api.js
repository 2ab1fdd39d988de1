// Talking to the REST API: JSON calls with the CSRF header, watch streams, followed logs.
// The session cookie (HttpOnly) is sent by the browser itself; scripts never see the token.

const CSRF_COOKIE = "xene_csrf";
const CSRF_HEADER = "X-Xene-CSRF";
const RECONNECT_MS = [500, 1000, 2000, 5000];

let unauthenticatedHandler = () => {};

/** Called whenever the API answers 401 (the session ended or the token changed). */
export function onUnauthenticated(handler) {
  unauthenticatedHandler = handler;
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

function headersFor(method, hasBody) {
  const headers = { Accept: "application/json" };
  if (hasBody) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const token = csrfToken();
    if (token) headers[CSRF_HEADER] = token;
  }
  return headers;
}

function errorMessage(status, body, fallback) {
  if (body && typeof body === "object" && body.message) return body.message;
  if (typeof body === "string" && body.trim()) return body.trim().slice(0, 300);
  return `${status} ${fallback}`;
}

const READ_RETRIES = 5;

/** One API call; resolves to the parsed JSON body, rejects with an ApiError naming the problem.
 *  A read answered 503 (a server still starting, etcd away for a moment) is tried again after
 *  the server's Retry-After, a few times. */
export async function api(path, { method = "GET", body, signal } = {}) {
  let response;
  for (let attempt = 0; ; attempt += 1) {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers: headersFor(method, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
    if (response.status !== 503 || method !== "GET" || attempt >= READ_RETRIES) break;
    const seconds = Number(response.headers.get("Retry-After")) || 1;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    if (signal?.aborted) break;
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  // whoami and login answer 401 as part of logging in: their callers handle it.
  if (response.status === 401 && !path.startsWith("/login") && !path.startsWith("/whoami")) unauthenticatedHandler();
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, data, response.statusText), data);
  return data;
}

/** Lines of a streamed response body, as they arrive; ends when the server ends the stream. */
export async function* streamLines(path, signal) {
  const response = await fetch(`/api/v1${path}`, { credentials: "same-origin", signal, headers: { Accept: "*/*" } });
  if (response.status === 401) unauthenticatedHandler();
  if (!response.ok) {
    let body = null;
    try { body = JSON.parse(await response.text()); } catch { /* not JSON */ }
    throw new ApiError(response.status, errorMessage(response.status, body, response.statusText), body);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        yield buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
      }
    }
    buffered += decoder.decode();
    if (buffered) yield buffered;
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** Batches of lines: everything that arrived within one animation frame is handed over at once. */
export async function followLines(path, signal, onBatch) {
  let pending = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length && !signal.aborted) onBatch(pending);
    pending = [];
  };
  for await (const line of streamLines(path, signal)) {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
    }
  }
  flush();
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/**
 * Follow a kind's changes (`?watch=true`) from `resourceVersion` on, reconnecting where the last
 * event left off. `onEvent({type, object})` gets each change; when the server says the revision
 * is gone (compacted), `resync()` must list again and return the revision to watch from.
 */
export async function watch(plural, { labelSelector, resourceVersion, signal, onEvent, resync }) {
  let revision = resourceVersion;
  let failures = 0;
  while (!signal.aborted) {
    const query = new URLSearchParams({ watch: "true" });
    if (labelSelector) query.set("labelSelector", labelSelector);
    if (revision) query.set("resourceVersion", String(revision));
    try {
      for await (const line of streamLines(`/${plural}?${query}`, signal)) {
        if (!line.trim()) continue;
        const event = JSON.parse(line);
        if (event.type === "ERROR") {
          revision = await resync();
          break;
        }
        failures = 0;
        const version = Number(event.object?.metadata?.resourceVersion || 0);
        if (version > (revision || 0)) revision = version;
        onEvent(event);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) return;
    }
    if (signal.aborted) return;
    await sleep(RECONNECT_MS[Math.min(failures, RECONNECT_MS.length - 1)], signal);
    failures += 1;
  }
}
