// The console's only way to the server: the same /api/v1 routes as any client, authenticated
// by the session cookie, with the session's CSRF token on every state change.

let csrf = "";
let operations = new Map();   // "post /api/v1/tickets/{ticket_id}/notes" -> OpenAPI operation
let schemas = {};
const unauthorizedHandlers = [];

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

export function onUnauthorized(fn) { unauthorizedHandlers.push(fn); }

async function request(method, path, body, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  // a text document (e.g. a YAML routing table) or a file (an export to train on) goes as is
  const raw = typeof body === "string" || body instanceof Blob;
  if (body !== undefined && !extra["Content-Type"]) {
    headers["Content-Type"] = body instanceof Blob ? "application/octet-stream"
      : raw ? "text/plain; charset=utf-8" : "application/json";
  }
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `network: ${err.message}`);
  }
  const data = resp.headers.get("Content-Type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    const e = data?.error || {};
    if (resp.status === 401 && path !== "/console/login") unauthorizedHandlers.forEach((fn) => fn());
    throw new ApiError(resp.status, e.message || resp.statusText, e.field);
  }
  return data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body = {}) => request("POST", path, body),
  put: (path, body) => request("PUT", path, body),
  patch: (path, body) => request("PATCH", path, body),
  del: (path) => request("DELETE", path),
  call: (method, path, body) => request(method.toUpperCase(), path, body),
  /** A POST that is safe to repeat: the same key never acts twice (a reply, …). */
  postOnce: (path, body, key) => request("POST", path, body, { "Idempotency-Key": key }),
  /** A file as the request body, with its own content type (a reply's attachment). */
  upload: (path, file) => request("POST", path, file,
    { "Content-Type": file.type || "application/octet-stream" }),
};

export async function login(token) {
  const s = await request("POST", "/console/login", { token });
  csrf = s.csrf;
  return s;
}

export async function currentSession() {
  const s = await request("GET", "/console/session");
  csrf = s.csrf;
  return s;
}

export async function logout() {
  await request("POST", "/console/logout", {});
  csrf = "";
}

/** Learn what the API offers right now, so views for endpoints that do not exist yet stay
 *  hidden and new endpoints show up without a console release. */
export async function loadOperations() {
  const doc = await request("GET", "/api/v1/openapi.json");
  operations = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) operations.set(`${method} ${path}`, { ...op, method, path });
  }
  schemas = doc.components?.schemas || {};
}

export function has(method, path) { return operations.has(`${method} ${path}`); }

export function operationsWhere(pred) { return [...operations.values()].filter(pred); }

export function resolveSchema(schema) {
  let s = schema;
  for (let i = 0; s && s.$ref && i < 10; i++) s = schemas[s.$ref.split("/").pop()];
  return s || {};
}

export function bodySchema(op) {
  const s = op.requestBody?.content?.["application/json"]?.schema;
  return s ? resolveSchema(s) : null;
}

export function enc(value) { return encodeURIComponent(value); }
