// The reply box and our replies in the thread: theirs and ours in time order, delivery ticks
// (queued, sent ✓, delivered ✓✓, read ✓✓ in blue, failed with the provider's words), the
// channel's window warning, macros, and Ctrl+Enter (⌘+Enter) to send.

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
      mount(windowNote, body.window_open ? null : h("p", { class: "window-closed", role: "alert" },
        t("reply.window.closed", { at: when(body.window_closes_at) })));
    }).catch(showError);
  };
  load();
  const timer = setInterval(() => { if (document.contains(list)) load(); else clearInterval(timer); }, REFRESH_MS);
  return { el: section(t("ticket.thread"), windowNote, list), reload: load };
}

/** The reply box (#reply-form), for those who may post replies on this ticket. */
export function replyBox(tk, reload) {
  if (!has("post", "/api/v1/tickets/{ticket_id}/replies")) return null;
  const text = h("textarea", { name: "reply", id: "reply-text", rows: 4, maxlength: 20000,
    placeholder: t("reply.placeholder"), "aria-label": t("reply.title") });
  const macro = h("select", { name: "macro", id: "reply-macro", "aria-label": t("reply.macro") },
    h("option", { value: "" }, t("reply.macro.none")));
  const send = h("button", { type: "submit", class: "primary", id: "reply-send" }, t("reply.send"));
  const form = h("form", { class: "reply-form", id: "reply-form" },
    h("div", { class: "row" }, macro, h("span", { class: "muted" }, t("reply.hint"))), text, send);
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
    if (!text.value.trim() || send.disabled) return;
    send.disabled = true;
    try {
      const body = { text: text.value };
      if (macro.value) body.macro = macro.value;
      const r = await api.postOnce(`/api/v1/tickets/${enc(tk.id)}/replies`, body, key);
      (r.macro_problems || []).forEach((p) => toast(p, "error"));
      text.value = "";
      macro.value = "";
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
