// One ticket: the whole thread across channels with entities and key words marked, the
// triage and its reasons, the customer and their other tickets, SLA clock, notes, resolve.

import { h, mount, highlight } from "../dom.js";
import { t, duration } from "../i18n.js";
import { api, enc, has, operationsWhere } from "../api.js";
import { ticketRow } from "./agent.js";
import { replyBox, threadSection } from "./reply.js";
import { suggestionsPanel } from "./knowledge.js";
import { meter } from "../charts.js";
import {
  channelBadge, field, priorityBadge, renderResult, schemaForm, section, select, showError, statusBadge, toast, when,
} from "../ui.js";

// The default taxonomy (triage/train_defaults.py); free text is allowed for new labels.
const TOPICS = ["order_status", "shipping", "returns_refunds", "billing", "account", "technical",
  "product", "complaint", "other"];
const SPECIAL_ACTIONS = new Set(["resolve", "notes", "replies"]);

export function ticketView(ctx, root, params, id) {
  let timer = null;
  mount(root, h("p", { class: "muted" }, t("common.loading")));
  api.get(`/api/v1/tickets/${enc(id)}`).then((tk) => {
    timer = render(ctx, root, tk);
  }).catch((err) => { showError(err); mount(root, h("p", { class: "empty" }, err.message)); });
  return () => { if (timer) clearInterval(timer); };
}

function render(ctx, root, tk) {
  const tri = tk.triage || null;
  const needles = [
    ...(tri?.entities || []).map((e) => ({ text: e.text, cls: "entity", title: `${e.label}${e.value ? ` = ${e.value}` : ""}` })),
    ...(tri?.topic_keywords || []).map((k) => ({ text: k, cls: "keyword", title: t("triage.keywords") })),
  ];
  const open = !["resolved", "closed"].includes(tk.status);
  const sla = slaClock(tk);
  const thread = threadSection(tk, (m) => message(m, needles));
  mount(root,
    h("div", { class: "ticket-head" },
      h("a", { href: "#/queues", class: "back" }, `← ${t("ticket.back")}`),
      h("h1", {}, h("span", { class: "tid" }, tk.id), " ", h("span", { id: "ticket-subject" }, tk.subject || t("common.none"))),
      h("div", { class: "chips" }, statusBadge(tk.status), priorityBadge(tk.priority), channelBadge(tk.channel),
        tk.unverified_sender ? h("span", { class: "badge unverified", title: t("ticket.unverified.help") }, t("ticket.unverified")) : null,
        h("span", { class: "chip" }, `${t("t.skill")}: ${tk.skill}`),
        h("span", { class: "chip" }, `${t("t.assignee")}: ${tk.assignee || t("common.none")}`),
        h("span", { class: "chip" }, `${t("t.created")}: ${when(tk.created_at)}`),
        sla.el)),
    h("div", { class: "ticket-layout" },
      h("div", { class: "main-col" },
        thread.el,
        open ? replyBox(tk, thread.reload, thread.onInfo) : null,
        notesSection(ctx, tk),
        open ? resolveSection(ctx, tk) : null,
        moreActions(ctx, tk)),
      h("aside", { class: "side-col" },
        tri?.risk?.urgent ? urgentGuidance(ctx) : null,
        open ? suggestionsPanel(tk) : null,
        triageSection(tri),
        autoAnswerSection(tk),
        customerSection(ctx, tk))));
  return sla.timer;
}

function message(m, needles) {
  return h("li", { class: ["msg", `chan-${m.channel}`] },
    h("div", { class: "msg-head" }, channelBadge(m.channel),
      h("strong", { class: "sender" }, m.sender_name || t("common.none")),
      m.unverified_sender ? h("span", { class: "badge unverified", title: m.sender_check || t("ticket.unverified.help") }, t("ticket.unverified")) : null,
      h("time", { datetime: m.received_at }, when(m.received_at))),
    m.subject ? h("div", { class: "msg-subject" }, m.subject) : null,
    h("div", { class: "msg-text" }, highlight(m.text || "", needles)),
    m.attachments?.length ? h("ul", { class: "attachments", "aria-label": t("ticket.attachments") },
      m.attachments.map((a) => h("li", {}, `📎 ${a.name} (${a.content_type}, ${a.size || 0} B)`))) : null);
}

/** What a manager does on a self-harm flag: a short, calm text in the console's language. */
export function urgentGuidance(ctx) {
  const line = ctx.session?.crisis_line || t("guidance.crisis.local");
  return h("section", { class: "guidance urgent", role: "alert", id: "urgent-guidance" },
    h("h2", {}, t("guidance.selfharm.title")),
    h("ol", {}, ["guidance.selfharm.contact", "guidance.selfharm.escalate", "guidance.selfharm.crisis",
      "guidance.selfharm.record"].map((k) => h("li", {}, t(k, { line })))));
}

function riskCategories(risk) {
  const cats = risk.categories || [];
  if (!cats.length) return null;
  return h("ul", { class: "risk-categories" }, cats.map((c) =>
    h("li", { class: c.flagged ? "flagged" : "" },
      h("span", { class: c.flagged ? "badge risk-high" : "chip" }, t(`risk.${c.name}`)), " ",
      h("span", { class: "muted" }, t("risk.score", { s: c.score.toFixed(2), th: c.threshold.toFixed(2) })),
      c.reasons?.length ? h("div", { class: "reasons" }, c.reasons.join("; ")) : null)));
}

function triageSection(tri) {
  if (!tri) return section(t("ticket.triage"), h("p", { class: "empty" }, t("common.none")));
  const risk = tri.risk || { high: false, reasons: [] };
  return section(t("ticket.triage"), h("dl", { class: "kv triage" },
    h("dt", {}, t("triage.topic")), h("dd", {}, h("strong", {}, tri.topic),
      h("div", { class: "conf" }, meter(tri.confidence), ` ${t("triage.confidence")} ${(tri.confidence * 100).toFixed(0)}%`)),
    h("dt", {}, t("triage.priority")), h("dd", {}, priorityBadge(tri.priority),
      tri.priority_reasons?.length ? h("ul", { class: "reasons" }, tri.priority_reasons.map((r) => h("li", {}, r))) : null),
    h("dt", {}, t("triage.sentiment")), h("dd", {}, `${tri.sentiment} (${(tri.sentiment_score ?? 0).toFixed(2)})`),
    h("dt", {}, t("triage.risk")), h("dd", {}, risk.high ? h("span", { class: "badge risk-high" }, t("triage.risk.high")) : t("triage.risk.low"),
      riskCategories(risk),
      risk.reasons?.length ? h("ul", { class: "reasons" }, risk.reasons.map((r) => h("li", {}, r))) : null),
    h("dt", {}, t("triage.language")), h("dd", {}, tri.language),
    h("dt", {}, t("triage.keywords")), h("dd", {}, (tri.topic_keywords || []).map((k) => h("mark", { class: "keyword" }, k))),
    h("dt", {}, t("triage.entities")), h("dd", {}, h("ul", { class: "entities" },
      (tri.entities || []).map((e) => h("li", {}, h("span", { class: "ent-label" }, e.label), " ", h("mark", { class: "entity" }, e.text),
        e.value && e.value !== e.text ? h("span", { class: "muted" }, ` → ${e.value}`) : null)))),
    tri.model_version ? [h("dt", {}, t("triage.model")), h("dd", { class: "muted" }, tri.model_version)] : null));
}

// What the auto-answer stage did: the answer it sent (the customer wrote again if the ticket is
// open), or why it left the ticket to agents, with whatever the shop's lookup returned.
function autoAnswerSection(tk) {
  const a = tk.auto_answer;
  if (!a) return null;
  return section(t("ticket.auto"), h("dl", { class: "kv", id: "auto-answer" },
    h("dt", {}, t("ticket.auto.outcome")), h("dd", {}, h("strong", {}, t(`ticket.auto.${a.outcome}`)), " ",
      h("span", { class: "muted" }, `${a.config} · ${when(a.at)}`)),
    a.reason ? [h("dt", {}, t("ticket.auto.reason")), h("dd", {}, a.reason)] : null,
    a.lookup_ms ? [h("dt", {}, t("ticket.auto.lookup")), h("dd", {}, `${a.lookup_ms} ms`)] : null,
    Object.keys(a.fields || {}).length ? [h("dt", {}, t("ticket.auto.fields")), h("dd", {}, renderResult(a.fields))] : null));
}

function customerSection(ctx, tk) {
  const c = tk.customer || {};
  const others = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  api.get(`/api/v1/tickets?customer=${enc(tk.customer_id)}&limit=20`).then((page) => {
    const list = page.tickets.filter((x) => x.id !== tk.id);
    mount(others, list.length ? h("ul", { class: "ticket-list compact" }, list.map(ticketRow)) : h("p", { class: "empty" }, t("ticket.noothers")));
  }).catch(() => mount(others, h("p", { class: "empty" }, t("ticket.noothers"))));
  return section(t("ticket.customer"),
    h("p", {}, h("strong", {}, c.name || c.id || tk.customer_id), c.tier ? h("span", { class: ["badge", `tier-${c.tier}`] }, c.tier) : null),
    h("ul", { class: "identities" }, (c.identities || []).map((i) => h("li", {}, h("span", { class: "muted" }, `${i.kind} `), i.value,
      i.verified === false ? h("span", { class: "badge unverified", title: t("identity.unverified.help") }, t("identity.unverified")) : null))),
    h("h3", {}, t("ticket.others")), others);
}

/** "first_response" -> its translated name, when the dictionary has one. */
function clockName(kind) {
  const key = `sla.clock.${kind}`;
  const name = t(key);
  return name === key ? kind.replace(/_/g, " ") : name;
}

/** SLA deadlines are whatever *_due / *_due_at fields (epoch s or ISO time) the ticket has. */
function slaClock(tk) {
  const source = { ...(tk.sla && typeof tk.sla === "object" ? tk.sla : {}), ...tk };
  const dues = Object.entries(source).filter(([k, v]) => /_due(_at)?$/.test(k) && v);
  if (!dues.length) return { el: null, timer: null };
  const el = h("span", { class: "chip sla", id: "sla" });
  const tick = () => {
    const now = Date.now() / 1000;
    mount(el, `${t("sla.title")}: `, dues.map(([k, v]) => {
      const due = typeof v === "number" ? v : Date.parse(v) / 1000;
      const left = due - now;
      return h("span", { class: left < 0 ? "breached" : left < 900 ? "soon" : "ok" },
        `${clockName(k.replace(/_due(_at)?$/, ""))} ${left < 0 ? t("sla.breached", { t: duration(-left) }) : t("sla.due", { t: duration(left) })} `);
    }));
  };
  tick();
  return { el, timer: setInterval(tick, 1000) };
}

function notesSection(ctx, tk) {
  const path = "/api/v1/tickets/{ticket_id}/notes";
  if (!has("get", path)) return null;
  const list = h("ol", { class: "notes", id: "notes" });
  const load = () => api.get(`/api/v1/tickets/${enc(tk.id)}/notes`).then(({ notes }) => mount(list, notes.map((n) =>
    h("li", { class: "note" }, h("div", { class: "msg-head" }, h("strong", {}, n.author || ""), h("time", {}, when(n.at))),
      h("div", { class: "msg-text" }, n.text || ""))))).catch(showError);
  load();
  if (!has("post", path)) return section(t("notes.title"), list);
  const text = h("textarea", { name: "note", rows: 2, maxlength: 4000, placeholder: t("notes.placeholder") });
  const form = h("form", { class: "note-form", id: "note-form" }, text, h("button", { type: "submit" }, t("notes.add")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) return;
    try {
      await api.post(`/api/v1/tickets/${enc(tk.id)}/notes`, { text: text.value });
      text.value = "";
      load();
    } catch (err) { showError(err); }
  });
  return section(t("notes.title"), list, form);
}

function resolveSection(ctx, tk) {
  const tri = tk.triage || {};
  const topic = h("input", { type: "text", name: "topic", list: "topic-list", placeholder: tri.topic || "", maxlength: 64 });
  const keep = t("resolve.keep");
  const priority = select("priority", [["", keep], ...["P1", "P2", "P3", "P4"].map((p) => [p, p])]);
  const sentiment = select("sentiment", [["", keep], ...["negative", "neutral", "positive"].map((s) => [s, s])]);
  const form = h("form", { class: "resolve-form", id: "resolve-form" },
    h("p", { class: "muted" }, t("resolve.hint")),
    h("datalist", { id: "topic-list" }, TOPICS.map((x) => h("option", { value: x }))),
    h("div", { class: "row" }, field(t("resolve.topic"), topic), field(t("resolve.priority"), priority),
      field(t("resolve.sentiment"), sentiment)),
    h("button", { type: "submit", class: "primary", id: "resolve" }, t("resolve.submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    if (topic.value.trim()) body.topic = topic.value.trim();
    if (priority.value) body.priority = priority.value;
    if (sentiment.value) body.sentiment = sentiment.value;
    try {
      await api.post(`/api/v1/tickets/${enc(tk.id)}/resolve`, body);
      toast(t("resolve.done", { id: tk.id }), "ok");
      ctx.navigate(ctx.session.role === "agent" ? "#/queues" : "#/review");
    } catch (err) { showError(err); }
  });
  return section(t("resolve.title"), form);
}

/** Ticket actions the API offers that have no dedicated control above (renew, release,
 *  transfer, reopen… as they land), each as a small form built from its schema. */
function moreActions(ctx, tk) {
  const ops = operationsWhere((op) => op.method === "post" && op.path.startsWith("/api/v1/tickets/{ticket_id}/")
    && !SPECIAL_ACTIONS.has(op.path.split("/").pop()) && (op.description || "").includes(ctx.session.role === "admin" ? "" : ctx.session.role));
  if (!ops.length) return null;
  return h("details", { class: "card more-actions" }, h("summary", {}, t("actions.more")),
    ops.map((op) => schemaForm(op, () => ctx.refresh(), { ticket_id: tk.id })));
}
