// Small shared pieces: badges, toasts, form fields, and forms/results for API operations the
// console has no dedicated view for (built from the OpenAPI document).

import { h, clear } from "./dom.js";
import { t, duration, dateTime } from "./i18n.js";
import { api, bodySchema, resolveSchema } from "./api.js";
import { confusion, hbars } from "./charts.js";

export function badge(kind, value, label = value) {
  return h("span", { class: ["badge", `${kind}-${String(value).toLowerCase()}`] }, label);
}

export const statusBadge = (s) => badge("status", s, t(`status.${s}`));
export const priorityBadge = (p) => badge("prio", p, p);
export const channelBadge = (c) => badge("chan", c, c);

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: ["toast", kind], role: kind === "error" ? "alert" : "status" }, message);
  box.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

export function showError(err) { toast(t("common.error", { msg: err.message || String(err) }), "error"); }

export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", { class: "label" }, label), input,
    hint ? h("small", {}, hint) : null);
}

export function select(name, options, value = "") {
  return h("select", { name }, options.map(([v, label]) =>
    h("option", { value: v, selected: v === value }, label)));
}

export function ago(seconds) { return duration(seconds); }

export function when(v) { return v ? dateTime(v) : t("common.none"); }

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" }, h("table", { class: "grid-table" },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows)));
}

/** A form for a JSON request body described by a (simple) JSON schema. */
export function schemaForm(op, onDone, fill = {}) {
  const schema = bodySchema(op);
  const props = schema?.properties || {};
  const required = new Set(schema?.required || []);
  const inputs = {};
  const fields = Object.entries(props).map(([name, raw]) => {
    const s = resolveSchema(raw.anyOf ? raw.anyOf.find((x) => x.type !== "null") || raw : raw);
    let input;
    if (s.enum) input = select(name, [["", ""], ...s.enum.map((v) => [v, v])], fill[name] ?? "");
    else if (s.type === "boolean") input = h("input", { type: "checkbox", name, checked: !!fill[name] });
    else if (s.type === "integer" || s.type === "number") input = h("input", { type: "number", name, value: fill[name] ?? "" });
    else if (s.type === "object" || s.type === "array") input = h("textarea", { name, rows: 3, placeholder: "JSON", value: fill[name] ? JSON.stringify(fill[name]) : "" });
    else input = h("input", { type: "text", name, value: fill[name] ?? "" });
    inputs[name] = [input, s];
    return field(`${name}${required.has(name) ? " *" : ""}`, input);
  });
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).filter((p) => !(p in fill));
  const pathInputs = Object.fromEntries(pathParams.map((p) => [p, h("input", { type: "text", name: p, required: true })]));
  const out = h("div", { class: "result" });
  const form = h("form", { class: "op-form" },
    Object.entries(pathInputs).map(([p, el]) => field(p, el)), fields,
    h("button", { type: "submit" }, `${op.method.toUpperCase()} · ${op.summary || op.path}`), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const path = op.path.replace(/\{(\w+)\}/g, (_, p) => encodeURIComponent(fill[p] ?? pathInputs[p].value));
    const body = {};
    for (const [name, [input, s]] of Object.entries(inputs)) {
      if (s.type === "boolean") { body[name] = input.checked; continue; }
      if (input.value === "") continue;
      if (s.type === "integer" || s.type === "number") body[name] = Number(input.value);
      else if (s.type === "object" || s.type === "array") {
        try { body[name] = JSON.parse(input.value); } catch { showError(new Error(`${name}: not JSON`)); return; }
      } else body[name] = input.value;
    }
    try {
      const result = await api.call(op.method, path, schema ? body : undefined);
      clear(out).append(renderResult(result));
      onDone?.(result);
    } catch (err) { showError(err); }
  });
  return form;
}

/** Show an API answer: confusion matrices and metric maps are drawn, the rest listed. */
export function renderResult(value, depth = 0) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, t("common.none"));
  if (typeof value !== "object") return h("span", {}, String(value));
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== "object" || v === null)) return h("span", {}, value.join(", "));
    return h("ol", { class: "result-list" }, value.slice(0, 200).map((v) => h("li", {}, renderResult(v, depth + 1))));
  }
  const parts = [];
  // triage/evaluation.py: "confusion": {"labels": [...], "matrix": [[...]]}
  const matrix = value.matrix || value.confusion_matrix;
  const labels = value.labels || value.classes;
  if (Array.isArray(matrix) && Array.isArray(labels) && matrix.length === labels.length) {
    parts.push(h("h3", {}, t("model.confusion")),
      confusion(matrix, labels, { actual: t("model.actual"), predicted: t("model.predicted") }));
  }
  const numeric = Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === "number" && v >= 0 && v <= 1));
  if (Object.keys(numeric).length >= 2) parts.push(h("h3", {}, t("model.metrics")), hbars(numeric, { max: 1, format: (v) => v.toFixed(3) }));
  const rest = Object.entries(value).filter(([k, v]) => !(k in numeric) && v !== matrix && v !== labels);
  parts.push(h("dl", { class: "kv" }, rest.map(([k, v]) => [h("dt", {}, k), h("dd", {}, depth > 4 ? JSON.stringify(v) : renderResult(v, depth + 1))])));
  return h("div", { class: "result-obj" }, parts);
}
