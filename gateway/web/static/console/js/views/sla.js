// Admins: SLA policies (first match wins, so the order matters) and teams (skills, managers,
// business-hours calendar, escalation, breach webhook). Validated by the server on save, the
// offending policy or field shown; live in every worker within a second.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { section, showError, toast, when } from "../ui.js";

const PRIORITIES = ["P1", "P2", "P3", "P4"];
const list = (v) => v.split(",").map((s) => s.trim()).filter(Boolean);

export function slaView(ctx, root) {
  const source = h("p", { class: "muted", id: "sla-source" });
  const rows = h("tbody", { id: "sla-rows" });
  const teams = h("textarea", { id: "sla-teams", name: "teams", rows: 14, spellcheck: "false", class: "code" });
  const sweep = h("input", { type: "number", id: "sla-sweep", name: "sweep_seconds", min: 0.1, max: 60, step: "any" });
  const error = h("p", { class: "error", role: "alert", id: "sla-error" });
  const secretsBox = h("div", { class: "muted small", id: "sla-secrets" });

  const load = async () => {
    try {
      const r = await api.get("/api/v1/sla");
      const { sla, teams: tm, sweep_seconds: sw, secrets } = r.config;
      mount(rows, sla.map(policyRow));
      mount(secretsBox, Object.entries(secrets).map(([k, v]) => h("div", {}, h("span", { class: "mono" }, k), ": ", v.set ? t("channels.secret.set") : t("channels.secret.unset"))));
      teams.value = JSON.stringify(tm, null, 2);
      sweep.value = sw;
      source.textContent = [r.source === "config file" ? t("sla.fromfile") : t("sla.fromapi"), r.rev ? `rev ${r.rev}` : "",
        r.updated_by || "", r.updated_at ? when(Number(r.updated_at)) : ""].filter(Boolean).join(" · ");
    } catch (err) { showError(err); }
  };

  const form = h("form", { class: "op-form", id: "sla-form", novalidate: true },
    source,
    h("h3", {}, t("sla.policies")), h("p", { class: "muted" }, t("sla.policies.hint")),
    h("div", { class: "table-wrap" }, h("table", { class: "grid-table sla-table" },
      h("thead", {}, h("tr", {}, [t("sla.name"), t("sla.priorities"), t("sla.tiers"), t("sla.accounts"), t("sla.frt"),
        t("sla.res"), t("sla.business"), t("sla.warn"), t("sla.escalate"), ""].map((x) => h("th", {}, x)))),
      rows)),
    h("button", { type: "button", id: "sla-add", onclick: () => rows.append(policyRow({ name: "", first_response_minutes: 60, resolution_minutes: 480, business_hours: true, warn_at: 0.8 })) }, t("sla.add")),
    h("h3", {}, t("sla.teams")), h("p", { class: "muted" }, t("sla.teams.hint")), teams, secretsBox,
    h("div", { class: "row" }, h("label", { class: "field narrow" }, h("span", { class: "label" }, t("sla.sweep")), sweep)),
    error,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("sla.save")),
      h("button", { type: "button", onclick: load }, t("routing.reload")),
      h("button", { type: "button", class: "danger", id: "sla-reset", onclick: reset }, t("sla.reset"))));

  async function reset() {
    if (!window.confirm(t("sla.confirmreset"))) return;
    try { await api.del("/api/v1/sla"); toast(t("sla.wasreset"), "ok"); load(); } catch (err) { showError(err); }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    rows.querySelectorAll("tr.invalid").forEach((tr) => tr.classList.remove("invalid"));
    let teamDoc;
    try { teamDoc = teams.value.trim() ? JSON.parse(teams.value) : {}; } catch (err) {
      error.textContent = t("sla.teams.json", { msg: err.message });
      teams.focus();
      return;
    }
    const doc = { sla: [...rows.children].map(readRow), teams: teamDoc };
    if (sweep.value !== "") doc.sweep_seconds = Number(sweep.value);
    try {
      await api.put("/api/v1/sla", doc);
      toast(t("sla.saved"), "ok");
      load();
    } catch (err) {
      error.textContent = err.message;
      const m = /sla\[(\d+)\]/.exec(err.field || err.message);
      if (m && rows.children[Number(m[1])]) rows.children[Number(m[1])].classList.add("invalid");
    }
  });
  load();
  mount(root, section(t("sla.admin.title"), form));
}

function policyRow(p) {
  const txt = (name, value, extra = {}) => h("input", { type: "text", name, value: value ?? "", spellcheck: "false", ...extra });
  const num = (name, value, step = "any") => h("input", { type: "number", name, value: value ?? "", step, min: 0 });
  const tr = h("tr", { class: "sla-row" },
    h("td", {}, txt("name", p.name, { required: true })),
    h("td", {}, txt("priorities", (p.priorities || []).join(", "), { placeholder: PRIORITIES.join(",") })),
    h("td", {}, txt("tiers", (p.tiers || []).join(", "), { placeholder: "vip" })),
    h("td", {}, txt("accounts", (p.accounts || []).join(", "))),
    h("td", {}, num("first_response_minutes", p.first_response_minutes)),
    h("td", {}, num("resolution_minutes", p.resolution_minutes)),
    h("td", {}, h("input", { type: "checkbox", name: "business_hours", checked: p.business_hours !== false })),
    h("td", {}, num("warn_at", p.warn_at ?? 0.8)),
    h("td", {}, txt("escalation_skill", p.escalation_skill)),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "small", title: t("sla.up"), onclick: () => tr.previousElementSibling?.before(tr) }, "↑"),
      h("button", { type: "button", class: "small", title: t("sla.down"), onclick: () => tr.nextElementSibling?.after(tr) }, "↓"),
      h("button", { type: "button", class: "small danger", title: t("sla.remove"), onclick: () => tr.remove() }, "✕")));
  return tr;
}

function readRow(tr) {
  const v = (name) => tr.querySelector(`[name=${name}]`);
  const out = {
    name: v("name").value.trim(),
    first_response_minutes: Number(v("first_response_minutes").value),
    resolution_minutes: Number(v("resolution_minutes").value),
    business_hours: v("business_hours").checked,
    warn_at: Number(v("warn_at").value),
  };
  for (const k of ["priorities", "tiers", "accounts"]) {
    const items = list(v(k).value);
    if (items.length) out[k] = k === "priorities" ? items.map((s) => s.toUpperCase()) : items;
  }
  if (v("escalation_skill").value.trim()) out.escalation_skill = v("escalation_skill").value.trim();
  return out;
}
