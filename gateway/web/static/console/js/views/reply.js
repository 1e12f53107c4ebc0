// The reply box and our replies in the thread: theirs and ours in time order, delivery ticks
// (queued, sent ✓, delivered ✓✓, read ✓✓ in blue, failed with the provider's words), the
// channel's window warning, macros, files (checked against the channel's limits before they
// are uploaded), templates once the window has closed, and Ctrl+Enter (⌘+Enter) to send.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, has } from "../api.js";
import { channelBadge, section, showError, toast, when } from "../ui.js";

const TICKS = { queued: "…", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };
const REFRESH_MS = 5000;

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

function replyItem(r) {
  return h("li", { class: ["msg", "ours", `chan-${r.channel}`], dataset: { reply: r.id, state: r.state } },
    h("div", { class: "msg-head" }, channelBadge(r.channel),
      h("strong", { class: "sender" }, r.author === "auto" ? t("reply.auto") : r.author),
      h("time", { datetime: r.created_at }, when(r.created_at)),
      h("span", { class: ["tick", `tick-${r.state}`], title: t(`reply.state.${r.state}`) },
        `${TICKS[r.state] || ""} ${t(`reply.state.${r.state}`)}`)),
    h("div", { class: "msg-text" }, r.text || ""),
    r.template ? h("div", { class: "reply-template-sent" },
      `${t("reply.template")}: ${r.template.name} (${r.template.language})`,
      r.template.parameters?.length ? ` · ${r.template.parameters.join(" · ")}` : "") : null,
    r.state === "failed" && r.reason ? h("div", { class: "reply-failed" }, r.reason) : null,
    r.attachments?.length ? h("ul", { class: "attachments" },
      r.attachments.map((a) => h("li", {}, `📎 ${a.name} (${a.content_type}, ${a.size || 0} B)`))) : null);
}

/** The thread (#thread): the customer's messages as `messageEl` draws them, merged in time
 *  order with our replies, which are refreshed while the view is open. */
export function threadSection(tk, messageEl) {
  const list = h("ol", { class: "thread", id: "thread" }, (tk.messages || []).map(messageEl));
  const windowNote = h("div", { id: "reply-window" });
  const state = { replies: [] };
  const listeners = [];
  const draw = () => {
    const items = [
      ...(tk.messages || []).map((m) => ({ at: Date.parse(m.received_at), el: () => messageEl(m) })),
      ...state.replies.map((r) => ({ at: Date.parse(r.created_at), el: () => replyItem(r) })),
    ].sort((a, b) => a.at - b.at);
    mount(list, items.map((i) => i.el()));
  };
  const load = () => {
    if (!has("get", "/api/v1/tickets/{ticket_id}/replies")) return Promise.resolve();
    return api.get(`/api/v1/tickets/${enc(tk.id)}/replies`).then((body) => {
      state.replies = body.replies;
      draw();
      listeners.forEach((fn) => fn(body));
      mount(windowNote, body.window_open ? null : h("p", { class: "window-closed", role: "alert" },
        t("reply.window.closed", { at: when(body.window_closes_at) })));
    }).catch(showError);
  };
  load();
  const timer = setInterval(() => { if (document.contains(list)) load(); else clearInterval(timer); }, REFRESH_MS);
  return { el: section(t("ticket.thread"), windowNote, list), reload: load,
    onInfo: (fn) => listeners.push(fn) };
}

export function sizeText(n) {
  if (n >= 1048576) return `${+(n / 1048576).toFixed(1)} MB`;
  return n >= 1024 ? `${+(n / 1024).toFixed(1)} KB` : `${n} B`;
}

/** The most a file of kind `k` may weigh here: the channel's limit, or the upload's if lower. */
function kindMax(k, rules) { return Math.min(k.max_bytes, rules.max_upload || k.max_bytes); }

function kindText(k, rules) {
  const types = (k.names || []).join("/") || t("reply.files.any");
  return `${k.kind} (${types}) ≤ ${sizeText(kindMax(k, rules))}`;
}

/** Why the channel would refuse `file` next to the files already attached ("" if it takes
 *  it): the same rules the server and the sender apply (GET …/replies `files`). */
export function fileRefusal(rules, attached, file) {
  const type = (file.type || "application/octet-stream").toLowerCase();
  const kinds = rules.kinds.map((k) => kindText(k, rules)).join("; ");
  if (attached.length + 1 > rules.max_files) return t("reply.files.refused.count", { n: rules.max_files });
  const kind = rules.kinds.find((k) => !k.types.length || k.types.includes(type));
  if (!kind) return t("reply.files.refused.type", { name: file.name, type, kinds });
  const max = kindMax(kind, rules);
  if (file.size > max) {
    return t("reply.files.refused.size", { name: file.name, size: sizeText(file.size), kind: kind.kind,
      max: sizeText(max) });
  }
  const total = attached.reduce((sum, a) => sum + a.size, file.size);
  if (rules.max_total && total > rules.max_total) return t("reply.files.refused.total", { max: sizeText(rules.max_total) });
  return "";
}

/** Files for the reply (#reply-files): picked, checked against the channel's limits, uploaded
 *  to the ticket, listed with size and type, removable. */
function filePicker(tk) {
  const state = { rules: { kinds: [], max_files: 0, max_total: 0 }, files: [] };
  const input = h("input", { type: "file", id: "reply-file", multiple: true, hidden: true });
  const button = h("button", { type: "button", id: "reply-attach", hidden: true, onclick: () => input.click() },
    `📎 ${t("reply.attach")}`);
  const limits = h("span", { class: "muted", id: "reply-limits" });
  const list = h("ul", { class: "attachments reply-files", id: "reply-files" });
  const draw = () => mount(list, state.files.map((f, i) => h("li", { dataset: { ref: f.ref } },
    `📎 ${f.name} (${f.content_type}, ${sizeText(f.size)}) `,
    h("button", { type: "button", class: "link remove-file", "aria-label": t("reply.files.remove", { name: f.name }),
      title: t("reply.files.remove", { name: f.name }),
      onclick: () => { state.files.splice(i, 1); draw(); } }, "×"))));
  input.addEventListener("change", async () => {
    for (const file of Array.from(input.files)) {
      const refusal = fileRefusal(state.rules, state.files, file);
      if (refusal) { toast(refusal, "error"); continue; }
      toast(t("reply.files.uploading", { name: file.name }));
      try {
        const up = await api.upload(`/api/v1/tickets/${enc(tk.id)}/files?name=${encodeURIComponent(file.name)}`, file);
        state.files.push({ ref: up.ref, name: up.name, size: up.size, content_type: up.content_type });
        draw();
      } catch (err) { showError(err); }
    }
    input.value = "";
  });
  const setRules = (rules, windowOpen) => {
    state.rules = rules;
    const can = windowOpen && rules.kinds.length > 0 && has("post", "/api/v1/tickets/{ticket_id}/files");
    button.hidden = !can;
    const total = rules.max_total ? `; ${t("reply.files.total", { total: sizeText(rules.max_total) })}` : "";
    limits.textContent = !rules.kinds.length ? t("reply.files.none") : !can ? ""
      : t("reply.files.limits", { n: rules.max_files, kinds: rules.kinds.map((k) => kindText(k, rules)).join("; ") }) + total;
  };
  return {
    el: h("div", { class: "reply-files-box" }, h("div", { class: "row" }, input, button, limits), list),
    setRules,
    attachments: () => state.files.map(({ ref, name, content_type }) => ({ ref, name, content_type })),
    clear: () => { state.files = []; draw(); },
  };
}

/** The template picker (#reply-template): shown once the channel's window has closed and the
 *  account has templates; the chosen one, with its variables filled in, is sent instead. */
function templatePicker() {
  const state = { templates: [] };
  const choice = h("select", { id: "reply-template", "aria-label": t("reply.template") });
  const vars = h("div", { class: "row", id: "reply-template-vars" });
  const box = h("div", { class: "reply-template", hidden: true },
    h("p", { class: "muted" }, t("reply.template.hint")), h("div", { class: "row" }, choice), vars);
  const chosen = () => state.templates[Number(choice.value)];
  choice.addEventListener("change", () => {
    const tpl = chosen();
    mount(vars, tpl ? tpl.variables.map((v, i) => h("label", {}, v, " ",
      h("input", { type: "text", name: `var-${i}`, maxlength: 1024, required: true, "aria-label": v }))) : null);
  });
  return {
    el: box,
    set(info) {
      const show = !info.window_open && info.templates.length > 0;
      const same = JSON.stringify(state.templates) === JSON.stringify(info.templates);
      box.hidden = !show;
      if (same) return;
      state.templates = info.templates;
      mount(choice, h("option", { value: "" }, t("reply.template.none")),
        info.templates.map((tpl, i) => h("option", { value: String(i) },
          `${tpl.title || tpl.name} (${tpl.language})`)));
      mount(vars);
    },
    value() {
      const tpl = box.hidden ? null : chosen();
      if (!tpl) return null;
      return { name: tpl.name, language: tpl.language,
        parameters: Array.from(vars.querySelectorAll("input")).map((i) => i.value) };
    },
    clear() { choice.value = ""; mount(vars); },
  };
}

/** The reply box (#reply-form), for those who may post replies on this ticket. */
export function replyBox(tk, reload, onInfo) {
  if (!has("post", "/api/v1/tickets/{ticket_id}/replies")) return null;
  const text = h("textarea", { name: "reply", id: "reply-text", rows: 4, maxlength: 20000,
    placeholder: t("reply.placeholder"), "aria-label": t("reply.title") });
  const macro = h("select", { name: "macro", id: "reply-macro", "aria-label": t("reply.macro") },
    h("option", { value: "" }, t("reply.macro.none")));
  const send = h("button", { type: "submit", class: "primary", id: "reply-send" }, t("reply.send"));
  const files = filePicker(tk);
  const template = templatePicker();
  onInfo?.((info) => {
    // outside the window only a template may go, and templates carry no files
    if (info.files) files.setRules(info.files, info.window_open);
    if (info.templates) template.set(info);
  });
  const form = h("form", { class: "reply-form", id: "reply-form" },
    h("div", { class: "row" }, macro, h("span", { class: "muted" }, t("reply.hint"))), template.el, text,
    files.el, send);
  let key = newKey();                 // one per draft: a double send makes one reply
  if (has("get", "/api/v1/macros")) {
    api.get("/api/v1/macros").then(({ macros }) => macros.forEach((m) =>
      macro.append(h("option", { value: m.id }, m.title)))).catch(() => {});
  }
  macro.addEventListener("change", async () => {
    if (!macro.value) return;
    try {
      const p = await api.get(`/api/v1/tickets/${enc(tk.id)}/macros/${enc(macro.value)}`);
      text.value = p.text;
      text.focus();
    } catch (err) { showError(err); }
  });
  const submit = async () => {
    const attachments = files.attachments();
    const tpl = template.value();
    if ((!text.value.trim() && !attachments.length && !tpl) || send.disabled) return;
    send.disabled = true;
    try {
      const body = { text: text.value };
      if (macro.value) body.macro = macro.value;
      if (attachments.length) body.attachments = attachments;
      if (tpl) body.template = tpl;
      const r = await api.postOnce(`/api/v1/tickets/${enc(tk.id)}/replies`, body, key);
      (r.macro_problems || []).forEach((p) => toast(p, "error"));
      text.value = "";
      macro.value = "";
      files.clear();
      template.clear();
      key = newKey();
      toast(t("reply.queued"), "ok");
      await reload();
    } catch (err) { showError(err); } finally { send.disabled = false; }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
  text.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); submit(); }
  });
  return section(t("reply.title"), form);
}
