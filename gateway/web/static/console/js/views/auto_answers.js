// Admins: auto-answers. Per account (or * for every account) and topic, the shop's lookup
// webhook, the gates and the zh + en answer templates (docs/auto-answer.md). The secret is
// write-only: the page only learns whether one is set, and an empty secret input keeps it.
// "Test" calls the stored lookup with an order number typed here; nothing reaches a customer.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc } from "../api.js";
import { field, renderResult, section, showError, table, toast } from "../ui.js";

const list = (v) => v.split(",").map((s) => s.trim()).filter(Boolean);

export function autoAnswersView(ctx, root) {
  const listBox = h("div", { id: "aa-list" });
  const formBox = h("div", { id: "aa-form-box" });
  mount(root, section(t("aa.title"), h("p", { class: "muted" }, t("aa.hint")), listBox),
    section(t("aa.edit"), formBox));
  // `keep`: the id of the auto-answer to keep in the form (the one just saved)
  const reload = async (keep) => {
    let doc;
    try { doc = await api.get("/api/v1/auto-answers"); } catch (err) { showError(err); return; }
    mount(listBox, table([t("aa.account"), t("aa.topic"), t("aa.url"), t("aa.secret"), t("aa.enabled"), ""],
      doc.auto_answers.map((a) => h("tr", { dataset: { id: a.id } },
        h("td", { class: "mono" }, a.account), h("td", { class: "mono" }, a.topic), h("td", { class: "mono" }, a.url),
        h("td", {}, a.secret_set ? t("channels.secret.set") : t("channels.secret.unset")),
        h("td", {}, a.enabled === false ? t("aa.off") : t("aa.on")),
        h("td", { class: "actions" },
          h("button", { class: "small edit", onclick: () => renderForm(formBox, doc, reload, a) }, t("channels.editbtn")),
          h("button", { class: "small danger delete", onclick: () => remove(a.id, reload) }, t("channels.delete"))))),
      t("aa.none")));
    renderForm(formBox, doc, reload, doc.auto_answers.find((a) => a.id === keep) || null);
  };
  reload(null);
}

async function remove(id, done) {
  if (!window.confirm(t("aa.confirmdelete", { id }))) return;
  try { await api.del(`/api/v1/auto-answers/${id.split("/").map(enc).join("/")}`); toast(t("aa.deleted"), "ok"); done(null); } catch (err) { showError(err); }
}

function renderForm(box, doc, reload, a) {
  const g = a?.gates || {};
  const input = (name, value, extra = {}) => h("input", { type: "text", name, value: value ?? "", spellcheck: "false", ...extra });
  const account = input("account", a?.account ?? "*", { required: true });
  const topic = input("topic", a?.topic ?? "order_status", { required: true });
  const url = input("url", a?.url ?? "", { type: "url", required: true, placeholder: "https://shop.example.com/deskgate/lookup" });
  const secret = h("input", { type: "password", name: "secret", autocomplete: "new-password",
    placeholder: a?.secret_set ? t("aa.secret.keep") : t("aa.secret.new") });
  const timeout = input("timeout_s", a?.timeout_s ?? 3, { type: "number", min: 0.1, max: doc.max_timeout_s, step: "any" });
  const entities = doc.entities.map((e) => h("label", { class: "inline" },
    h("input", { type: "checkbox", name: "entities", value: e, checked: (a?.entities || ["ORDER_ID"]).includes(e) }), ` ${e}`));
  const minConf = input("min_confidence", g.min_confidence ?? 0.8, { type: "number", min: 0, max: 1, step: 0.01 });
  const required = input("required_fields", (g.required_fields || []).join(", "), { placeholder: "status, eta" });
  const condField = input("condition_field", g.condition?.field ?? "", { placeholder: "status" });
  const condValues = input("condition_one_of", (g.condition?.one_of || []).join(", "), { placeholder: "shipped, in_transit" });
  const zh = h("textarea", { name: "zh", rows: 3 }, a?.zh ?? "");
  const en = h("textarea", { name: "en", rows: 3 }, a?.en ?? "");
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: a?.enabled !== false });
  const error = h("p", { class: "error", role: "alert", id: "aa-error" });
  const probe = input("probe", "", { placeholder: "DD20261118004521" });
  const result = h("div", { id: "aa-test-result" });
  const path = () => `/api/v1/auto-answers/${enc(account.value.trim())}/${enc(topic.value.trim())}`;

  const form = h("form", { class: "op-form", id: "aa-form", novalidate: true },
    h("div", { class: "row" }, field(t("aa.account"), account, t("aa.account.hint")), field(t("aa.topic"), topic)),
    field(t("aa.url"), url, t("aa.url.hint")),
    h("div", { class: "row" }, field(t("aa.secret"), secret, t("aa.secret.hint")), field(t("aa.timeout"), timeout)),
    field(t("aa.entities"), h("div", {}, entities)),
    h("h3", {}, t("aa.gates")),
    h("div", { class: "row" }, field(t("aa.minconf"), minConf), field(t("aa.required"), required, t("aa.required.hint"))),
    h("div", { class: "row" }, field(t("aa.condfield"), condField), field(t("aa.condvalues"), condValues)),
    h("h3", {}, t("aa.templates")), h("p", { class: "muted" }, t("aa.templates.hint", { vars: Object.keys(doc.variables).map((v) => `{${v}}`).join(" ") })),
    field("中文", zh), field("English", en),
    h("label", { class: "inline" }, enabled, ` ${t("aa.enabled")}`),
    error,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("aa.save"))),
    h("h3", {}, t("aa.test")), h("div", { class: "row" }, field("ORDER_ID", probe),
      h("button", { type: "button", id: "aa-test", onclick: test }, t("aa.test.run"))), result);

  async function test() {
    mount(result);
    if (!probe.value.trim()) { probe.focus(); return; }
    try {
      const r = await api.post(`${path()}/test`, { entities: { ORDER_ID: [probe.value.trim()] } });
      mount(result, h("p", { class: r.ok && !r.gate ? "ok" : "error" },
        r.ok ? (r.gate ? t("aa.test.gate", { why: r.gate }) : t("aa.test.pass")) : t("aa.test.fail", { why: r.reason })),
        r.answer ? h("blockquote", {}, r.answer) : null, renderResult(r.fields));
    } catch (err) { showError(err); }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const gates = { min_confidence: Number(minConf.value), required_fields: list(required.value) };
    if (condField.value.trim()) gates.condition = { field: condField.value.trim(), one_of: list(condValues.value) };
    const body = { url: url.value.trim(), timeout_s: Number(timeout.value), gates, zh: zh.value, en: en.value,
      entities: entities.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      enabled: enabled.checked };
    if (secret.value) body.secret = secret.value;
    try {
      const saved = await api.put(path(), body);
      toast(t("aa.saved"), "ok");
      reload(saved.id);
    } catch (err) { error.textContent = err.message; }
  });
  mount(box, form);
}
