// Admins: channel accounts (WeChat, WeCom, Telegram, WhatsApp, ...). The form for each channel
// is built from its connector's settings fields as the API lists them. Secrets are write-only:
// the page only ever learns whether one is set (and its last two characters); leaving a secret
// input empty keeps the stored one.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc } from "../api.js";
import { badge, channelBadge, field, section, select, showError, table, toast, when } from "../ui.js";

export function channelsView(ctx, root) {
  const list = h("div", { id: "channel-accounts" });
  const formBox = h("div", { id: "channel-form-box" });
  const hookBox = h("div", { id: "channel-hook" });
  mount(root, section(t("channels.title"), h("p", { class: "muted" }, t("channels.hint")), list),
    section(t("channels.edit"), formBox, hookBox));
  const state = { channels: [] };
  const reload = async (keep) => {
    try {
      state.channels = (await api.get("/api/v1/channels")).channels;
    } catch (err) { showError(err); return; }
    renderList(list, state, (ch, acct) => renderForm(formBox, hookBox, state, reload, ch, acct),
      (ch, acct) => remove(ch, acct, () => reload(false)));
    if (!keep) renderForm(formBox, hookBox, state, reload, state.channels[0]?.channel);
  };
  reload(false);
}

function secretState(s) {
  if (!s?.set) return h("span", { class: "muted" }, t("channels.secret.unset"));
  return h("span", { class: "secret-set" }, t("channels.secret.set"), s.ends ? h("span", { class: "mono" }, ` ••${s.ends}`) : null);
}

/** A translated hint, or nothing when there is none for this key. */
function hint(key) {
  const s = t(key);
  return s === key ? "" : s;
}

function renderList(box, state, edit, del) {
  const rows = [];
  for (const c of state.channels) {
    for (const a of c.accounts) {
      rows.push(h("tr", { dataset: { account: `${c.channel}/${a.account}` } },
        h("td", {}, channelBadge(c.channel)), h("td", { class: "mono" }, a.account),
        h("td", {}, Object.entries(a.secrets).map(([name, s]) => h("div", {}, h("span", { class: "muted" }, `${name}: `), secretState(s)))),
        h("td", {}, a.settings.skill || t("common.none")),
        h("td", {}, a.source, a.updated_by ? h("div", { class: "muted small" }, `${a.updated_by} · ${when(a.updated_at)}`) : null),
        h("td", { class: "mono hook" }, a.webhook_url),
        h("td", { class: "actions" }, h("button", { class: "small edit", onclick: () => edit(c.channel, a) }, t("channels.editbtn")),
          a.source.startsWith("admin") ? h("button", { class: "small danger delete", onclick: () => del(c.channel, a.account) }, t("channels.delete")) : null)));
    }
  }
  mount(box, table([t("t.channel"), t("channels.account"), t("channels.secrets"), t("t.skill"), t("channels.source"), t("channels.webhook"), ""],
    rows, t("channels.none")));
}

async function remove(channel, account, done) {
  if (!window.confirm(t("channels.confirmdelete", { name: `${channel}/${account}` }))) return;
  try {
    await api.del(`/api/v1/channels/${enc(channel)}/${enc(account)}`);
    toast(t("channels.deleted", { name: `${channel}/${account}` }), "ok");
    done();
  } catch (err) { showError(err); }
}

function input(f, value, existing) {
  const name = f.name;
  if (f.type === "boolean") return h("input", { type: "checkbox", name, checked: value ?? f.default ?? false });
  if (f.type === "integer" || f.type === "number") {
    return h("input", { type: "number", name, step: f.type === "integer" ? 1 : "any", value: value ?? f.default ?? "" });
  }
  if (f.secret) {
    return h("input", { type: "password", name, autocomplete: "new-password", spellcheck: "false", required: f.required && !existing?.set,
      placeholder: existing?.set ? t("channels.secret.keep", { ends: existing.ends ? `••${existing.ends}` : "" }) : "" });
  }
  if (f.type === "json") {   // a list of structured entries (a WhatsApp account's templates)
    const entries = value ?? f.default ?? [];
    return h("textarea", { name, rows: 3, spellcheck: "false", class: "mono" },
      entries.length ? JSON.stringify(entries) : "");
  }
  const shown = f.type === "list" ? (value ?? f.default ?? []).join(", ") : (value ?? f.default ?? "");
  return h("input", { type: "text", name, value: shown, required: f.required, spellcheck: "false",
    placeholder: f.type === "list" ? "a, b" : "" });
}

/** The add/edit form for one channel; `account` is an existing account's view or absent. */
function renderForm(box, hookBox, state, reload, channel, account) {
  const spec = state.channels.find((c) => c.channel === channel);
  if (!spec) { mount(box); return; }
  const chan = select("channel", state.channels.map((c) => [c.channel, c.channel]), channel);
  chan.disabled = !!account;
  chan.addEventListener("change", () => renderForm(box, hookBox, state, reload, chan.value));
  const name = h("input", { type: "text", name: "account", required: true, maxlength: 64, pattern: "[A-Za-z0-9_-]{1,64}",
    value: account?.account || "", readonly: !!account, spellcheck: "false" });
  const errors = {};
  const inputs = {};
  const clears = {};
  const fields = spec.fields.map((f) => {
    const el = input(f, account?.settings[f.name], account?.secrets[f.name]);
    inputs[f.name] = el;
    errors[f.name] = h("small", { class: "field-error", role: "alert" });
    const clear = f.secret && !f.required && account?.secrets[f.name]?.set
      ? h("label", { class: "inline" }, (clears[f.name] = h("input", { type: "checkbox", name: `clear-${f.name}` })), t("channels.secret.clear"))
      : null;
    const label = `${f.name}${f.required ? " *" : ""}${f.secret ? ` · ${t("channels.secret")}` : ""}`;
    return h("label", { class: ["field", f.secret ? "secret-field" : ""], dataset: { field: f.name } },
      h("span", { class: "label" }, label), el, clear, h("small", {}, hint(`field.${f.name}`)), errors[f.name]);
  });
  errors.account = h("small", { class: "field-error", role: "alert" });
  const general = h("p", { class: "error", role: "alert", id: "channel-error" });
  const form = h("form", { class: "op-form", id: "channel-form", novalidate: true },
    h("div", { class: "row" }, field(t("t.channel"), chan), h("label", { class: "field", dataset: { field: "account" } },
      h("span", { class: "label" }, `${t("channels.account")} *`), name, errors.account)),
    h("div", { class: "fields-grid" }, fields), general,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, account ? t("channels.save") : t("channels.add")),
      account ? h("button", { type: "button", onclick: () => renderForm(box, hookBox, state, reload, channel) }, t("channels.new")) : null));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    Object.values(errors).forEach((e) => { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    general.textContent = "";
    const body = {};
    for (const f of spec.fields) {
      const el = inputs[f.name];
      if (f.secret) {
        if (clears[f.name]?.checked) body[f.name] = null;
        else if (el.value !== "") body[f.name] = el.value;     // empty: keep the stored secret
        continue;
      }
      if (f.type === "boolean") body[f.name] = el.checked;
      else if (el.value === "") continue;
      else if (f.type === "integer" || f.type === "number") body[f.name] = Number(el.value);
      else if (f.type === "list") body[f.name] = el.value.split(",").map((s) => s.trim()).filter(Boolean);
      else if (f.type === "json") {
        try { body[f.name] = JSON.parse(el.value); } catch (err) {
          errors[f.name].textContent = t("channels.json.invalid", { msg: err.message });
          el.setAttribute("aria-invalid", "true");
          return;
        }
      }
      else body[f.name] = el.value.trim();
    }
    const acct = name.value.trim();
    try {
      const saved = await api.put(`/api/v1/channels/${enc(chan.value)}/${enc(acct)}`, body);
      toast(t("channels.saved", { name: `${saved.channel}/${saved.account}` }), "ok");
      showHook(hookBox, saved);
      await reload(true);
      const fresh = state.channels.find((c) => c.channel === saved.channel)?.accounts.find((a) => a.account === saved.account);
      renderForm(box, hookBox, state, reload, saved.channel, fresh || saved);
    } catch (err) {
      const target = err.field && (errors[err.field] || null);
      if (target) {
        target.textContent = err.message;
        (inputs[err.field] || name).setAttribute("aria-invalid", "true");
        (inputs[err.field] || name).focus();
      } else general.textContent = err.message;
    }
  });
  if (account) showHook(hookBox, account); else mount(hookBox);
  mount(box, form);
}

function showHook(box, acct) {
  const url = h("input", { type: "text", readonly: true, value: acct.webhook_url, class: "mono", id: "webhook-url" });
  mount(box, h("div", { class: "hook-box" }, h("p", {}, t("channels.paste", { channel: acct.channel })), url,
    h("p", { class: "muted" }, badge("chan", acct.channel, acct.channel), " ", hint(`channels.how.${acct.channel}`))));
  url.addEventListener("focus", () => url.select());
}
