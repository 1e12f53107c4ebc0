// Admins: API tokens, agents and their skills, and every other setting the API offers
// (routing rules, SLA policies, channels, models…) as forms built from the OpenAPI document.

import { h, mount, clear } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, has, operationsWhere } from "../api.js";
import { onBoard } from "../live.js";
import { field, renderResult, schemaForm, section, select, showError, table, toast, when } from "../ui.js";

const ROLES = ["agent", "manager", "admin", "integration"];
const COVERED_TAGS = new Set(["tickets", "queues", "intake", "stats", "tokens", "agents", "routing", "work", "review",
  "channels", "sla", "models"]);   // the last three have their own pages
const EXPECTED = [["routing", "routing rules"], ["sla", "SLA policies"], ["channel", "channels & accounts"],
  ["model", "models: train, compare, promote, roll back"]];

export function adminView(ctx, root) {
  const tokens = h("div", {});
  const agents = h("div", {});
  mount(root, h("div", { class: "two-col" }, tokensSection(tokens), agentsSection(agents)),
    has("get", "/api/v1/routing") ? routingSection() : null, moreSection());
  loadTokens(tokens);
  return onBoard((board) => renderAgents(agents, board.agents));
}

function tokensSection(list) {
  const role = select("role", ROLES.map((r) => [r, r]), "agent");
  const agentId = h("input", { type: "text", name: "agent_id", maxlength: 64, autocomplete: "off" });
  const label = h("input", { type: "text", name: "label", maxlength: 100, autocomplete: "off" });
  const shown = h("div", { id: "new-token" });
  const form = h("form", { class: "op-form", id: "token-form" },
    h("div", { class: "row" }, field(t("token.role"), role), field(t("token.agent"), agentId), field(t("token.label"), label)),
    h("button", { type: "submit", class: "primary" }, t("token.create")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const made = await api.post("/api/v1/tokens", { role: role.value, agent_id: agentId.value.trim(), label: label.value.trim() });
      const value = h("input", { type: "text", readonly: true, value: made.token, class: "secret", id: "token-value" });
      mount(shown, h("div", { class: "once" }, h("p", {}, t("token.once")), value));
      value.select();
      form.reset();
      loadTokens(list);
    } catch (err) { showError(err); }
  });
  return section(t("admin.tokens"), form, shown, list);   // outside the form: reset() keeps it
}

async function loadTokens(box) {
  try {
    const { tokens } = await api.get("/api/v1/tokens");
    mount(box, table([t("token.id"), t("token.role"), t("token.agent"), t("token.label"), t("token.created"), ""],
      tokens.map((tk) => h("tr", { dataset: { token: tk.token_id } }, h("td", { class: "mono" }, tk.token_id), h("td", {}, tk.role),
        h("td", {}, tk.agent_id || t("common.none")), h("td", {}, tk.label || ""), h("td", {}, when(tk.created_at)),
        h("td", {}, h("button", { class: "danger small", onclick: () => revoke(tk.token_id, box) }, t("token.revoke"))))),
      t("common.none")));
  } catch (err) { showError(err); }
}

async function revoke(id, box) {
  if (!window.confirm(t("token.confirm", { id }))) return;
  try {
    await api.del(`/api/v1/tokens/${enc(id)}`);
    toast(t("token.revoked", { id }), "ok");
    loadTokens(box);
  } catch (err) { showError(err); }
}

let agentForm = null;

function agentsSection(list) {
  const id = h("input", { type: "text", name: "agent_id", required: true, maxlength: 64 });
  const name = h("input", { type: "text", name: "name", maxlength: 100 });
  const skills = h("input", { type: "text", name: "skills", required: true, placeholder: "billing:3, logistics" });
  const capacity = h("input", { type: "number", name: "capacity", min: 1, max: 100, value: 5 });
  const status = select("status", ["online", "away", "offline"].map((s) => [s, t(`status.${s}`)]), "online");
  const team = h("input", { type: "text", name: "team", maxlength: 64 });
  const languages = h("input", { type: "text", name: "languages", placeholder: "zh,en" });
  const form = h("form", { class: "op-form", id: "agent-form" },
    h("div", { class: "row" }, field(t("agent.id"), id), field(t("agent.name"), name)),
    field(t("agent.skills"), skills),
    h("div", { class: "row" }, field(t("agent.capacity"), capacity), field(t("agent.status"), status),
      field(t("agent.team"), team), field(t("agent.languages"), languages)),
    h("button", { type: "submit", class: "primary" }, t("agent.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const skillMap = {};
    for (const part of skills.value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const [s, level] = part.split(":");
      skillMap[s.trim()] = level ? Number(level) : 1;
    }
    try {
      await api.put(`/api/v1/agents/${enc(id.value.trim())}`, {
        skills: skillMap, capacity: Number(capacity.value), name: name.value.trim(), status: status.value,
        team: team.value.trim(), languages: languages.value.split(",").map((s) => s.trim()).filter(Boolean),
      });
      toast(t("agent.saved", { id: id.value.trim() }), "ok");
    } catch (err) { showError(err); }
  });
  agentForm = { id, name, skills, capacity, status, team, languages };
  return section(t("admin.agents"), form, list);
}

function renderAgents(box, agents) {
  mount(box, table([t("agent.id"), t("agent.name"), t("board.skills"), t("agent.capacity"), t("agent.status"), ""],
    agents.map((a) => h("tr", {}, h("td", {}, a.id), h("td", {}, a.name), h("td", {}, a.skills.join(", ")),
      h("td", { class: "num" }, `${a.load} / ${a.capacity}`), h("td", {}, t(`status.${a.status}`)),
      h("td", {}, h("button", { class: "small", onclick: () => editAgent(a) }, t("agent.edit"))))),
    t("board.noagents")));
}

async function editAgent(row) {
  try {
    const a = await api.get(`/api/v1/agents/${enc(row.id)}`);
    const f = agentForm;
    f.id.value = a.id; f.name.value = a.name || ""; f.capacity.value = a.capacity;
    f.skills.value = Object.entries(a.skills).map(([s, l]) => (l > 1 ? `${s}:${l}` : s)).join(", ");
    f.status.value = a.status; f.team.value = a.team || ""; f.languages.value = (a.languages || []).join(",");
    f.id.focus();
  } catch (err) { showError(err); }
}

function moreSection() {
  const ops = operationsWhere((op) => !COVERED_TAGS.has((op.tags || [])[0]) && op.path.startsWith("/api/v1/") && op.path !== "/api/v1/openapi.json");
  const byTag = new Map();
  for (const op of ops) {
    const tag = (op.tags || ["api"])[0];
    if (!byTag.has(tag)) byTag.set(tag, []);
    byTag.get(tag).push(op);
  }
  const all = operationsWhere(() => true);
  const have = (word) => all.some((op) => op.path.includes(word) || (op.tags || []).some((x) => x.includes(word)));
  const missing = EXPECTED.filter(([word]) => !have(word)).map(([, what]) => what);
  return section(t("admin.more"),
    [...byTag.entries()].sort().map(([tag, list]) => h("details", { class: "api-group", open: list.length <= 4 },
      h("summary", {}, tag), list.map(opPanel))),
    missing.length ? h("p", { class: "muted" }, `${t("admin.missing")} ${missing.join(", ")}`) : null);
}

function opPanel(op) {
  if (op.method === "get" && !op.path.includes("{")) {
    const out = h("div", { class: "result" });
    const load = async () => {
      try { clear(out).append(renderResult(await api.get(op.path))); } catch (err) { showError(err); }
    };
    return h("div", { class: "op" }, h("button", { onclick: load }, `GET · ${op.summary || op.path}`), out);
  }
  return h("div", { class: "op" }, schemaForm(op));
}

/** The live routing table as JSON (or YAML) text: validated by the server on save, with the
 *  offending field named; live in every worker within a second. */
function routingSection() {
  const text = h("textarea", { name: "routing", id: "routing-text", rows: 16, spellcheck: "false", class: "code" });
  const source = h("p", { class: "muted" });
  const error = h("p", { class: "error", role: "alert", id: "routing-error" });
  const load = async () => {
    try {
      const r = await api.get("/api/v1/routing");
      text.value = JSON.stringify(r.table, null, 2);
      source.textContent = [r.source, r.rev ? `rev ${r.rev}` : "", r.by || "", r.at ? when(r.at) : ""].filter(Boolean).join(" · ");
    } catch (err) { showError(err); }
  };
  const form = h("form", { class: "op-form", id: "routing-form" }, source, text, error,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("routing.save")),
      h("button", { type: "button", onclick: load }, t("routing.reload"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      await api.put("/api/v1/routing", text.value);
      toast(t("routing.saved"), "ok");
      load();
    } catch (err) { error.textContent = err.message; }
  });
  load();
  return section(t("routing.title"), h("p", { class: "muted" }, t("routing.hint")), form);
}
