// The knowledge base: article search with marked matches, the admins' editor with a preview,
// and the suggestions panel of a ticket whose "insert" puts an article or a past reply into
// the reply box. Every string is a text node: matches are marked from the offsets the API
// returns, and the preview draws a small Markdown subset with elements, never parsed HTML.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, has } from "../api.js";
import { badge, field, section, select, showError, toast, when } from "../ui.js";

const LOCALES = ["zh", "en"];
const STATUSES = ["draft", "published"];
// "agents" first: a new article is internal until its author makes it public
const AUDIENCES = ["agents", "public"];

/** Who may read the article: the web-chat FAQ's visitors only see `public` ones. */
const audienceBadge = (a) => badge("audience", a.audience, t(`kb.audience.${a.audience}`));

/** `text` as text nodes with the [start, end) ranges in `marks` wrapped in <mark>. */
export function marked(text, marks) {
  const out = [];
  let pos = 0;
  for (const [s, e] of marks || []) {
    if (s < pos || e > text.length) continue;
    if (s > pos) out.push(text.slice(pos, s));
    out.push(h("mark", { class: "keyword" }, text.slice(s, e)));
    pos = e;
  }
  if (pos < text.length) out.push(text.slice(pos));
  return out;
}

/** **bold**, *em* and `code` within a line, as elements around text nodes. */
function inline(line) {
  const out = [];
  const re = /(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)/g;
  let pos = 0;
  for (const m of line.matchAll(re)) {
    if (m.index > pos) out.push(line.slice(pos, m.index));
    const tok = m[0];
    if (tok.startsWith("**")) out.push(h("strong", {}, tok.slice(2, -2)));
    else if (tok.startsWith("`")) out.push(h("code", {}, tok.slice(1, -1)));
    else out.push(h("em", {}, tok.slice(1, -1)));
    pos = m.index + tok.length;
  }
  if (pos < line.length) out.push(line.slice(pos));
  return out;
}

/** A small Markdown subset (headings, lists, paragraphs, inline marks) drawn with elements. */
export function markdown(text) {
  const blocks = [];
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) blocks.push(h("p", {}, inline(para.join(" "))));
    para = [];
  };
  for (const raw of String(text || "").split(/\r?\n/)) {
    const line = raw.trimEnd();
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    const item = line.match(/^\s*(?:[-*]|\d+\.)\s+(.*)$/);
    if (heading) { flush(); list = null; blocks.push(h(`h${heading[1].length + 2}`, {}, inline(heading[2]))); }
    else if (item) { flush(); if (!list) { list = h("ul", {}); blocks.push(list); } list.append(h("li", {}, inline(item[1]))); }
    else if (!line.trim()) { flush(); list = null; }
    else { list = null; para.push(line.trim()); }
  }
  flush();
  return h("div", { class: "md-preview" }, blocks);
}

function articleRow(ctx, a, open) {
  return h("li", { class: "article-hit", dataset: { article: a.id } },
    h("div", { class: "msg-head" },
      h("a", { href: `#/articles/${enc(a.id)}`, class: "article-title", onclick: (ev) => { ev.preventDefault(); open(a.id); } },
        a.title_marks ? marked(a.title, a.title_marks) : a.title),
      badge("status", a.status, t(`kb.status.${a.status}`)), audienceBadge(a), h("span", { class: "chip" }, a.locale),
      a.topic ? h("span", { class: "chip" }, a.topic) : null,
      a.score !== undefined ? h("span", { class: "muted" }, `${t("kb.score")} ${a.score.toFixed(2)}`) : null),
    a.snippet ? h("div", { class: "msg-text snippet" }, marked(a.snippet.text, a.snippet.marks)) : null,
    a.tags?.length ? h("div", { class: "muted" }, a.tags.map((x) => `#${x}`).join(" ")) : null);
}

export function articlesView(ctx, root, params, id) {
  const admin = ctx.session.role === "admin";
  const q = h("input", { type: "search", name: "q", id: "kb-search", value: params.get("q") || "",
    placeholder: t("kb.search.placeholder"), autocomplete: "off", maxlength: 500 });
  const locale = select("locale", [["", t("kb.any")], ...LOCALES.map((l) => [l, l])]);
  const results = h("ol", { class: "ticket-list", id: "kb-results" });
  const editor = h("div", { id: "kb-editor" });
  const open = (articleId) => (admin ? edit(articleId) : read(articleId));

  async function search() {
    const qs = new URLSearchParams({ limit: "50" });
    if (q.value.trim()) qs.set("q", q.value.trim());
    if (locale.value) qs.set("locale", locale.value);
    try {
      const body = await api.get(`/api/v1/articles?${qs}`);
      mount(results, body.articles.length ? body.articles.map((a) => articleRow(ctx, a, open))
        : h("li", { class: "empty" }, t("kb.none")));
    } catch (err) { showError(err); }
  }

  async function read(articleId) {
    try {
      const a = await api.get(`/api/v1/articles/${enc(articleId)}`);
      mount(editor, section(a.title, h("p", { class: "muted" }, audienceBadge(a), `${a.locale} · ${when(a.updated_at)}`),
        markdown(a.body)));
    } catch (err) { showError(err); }
  }

  async function edit(articleId) {
    let a = { id: "", title: "", body: "", locale: "zh", status: "draft", audience: "agents", topic: "", tags: [] };
    if (articleId) {
      try { a = await api.get(`/api/v1/articles/${enc(articleId)}`); } catch (err) { showError(err); return; }
    }
    const idIn = h("input", { type: "text", name: "id", id: "kb-id", value: a.id, required: true,
      pattern: "[a-z0-9][a-z0-9_\\-]{0,79}", readonly: !!articleId });
    const title = h("input", { type: "text", name: "title", id: "kb-title", value: a.title, required: true, maxlength: 200 });
    const loc = select("locale", LOCALES.map((l) => [l, l]), a.locale);
    const status = select("status", STATUSES.map((s) => [s, t(`kb.status.${s}`)]), a.status);
    const audience = select("audience", AUDIENCES.map((x) => [x, t(`kb.audience.${x}`)]), a.audience);
    const topic = h("input", { type: "text", name: "topic", value: a.topic || "", maxlength: 64 });
    const tags = h("input", { type: "text", name: "tags", value: (a.tags || []).join(", "), placeholder: t("kb.tags.hint") });
    const body = h("textarea", { name: "body", id: "kb-body", rows: 12, maxlength: 65536, value: a.body });
    const preview = h("div", { id: "kb-preview", class: "card" }, markdown(a.body));
    body.addEventListener("input", () => mount(preview, markdown(body.value)));
    const form = h("form", { class: "kb-form", id: "kb-form" },
      h("div", { class: "row" }, field(t("kb.id"), idIn), field(t("kb.title"), title)),
      h("div", { class: "row" }, field(t("kb.locale"), loc), field(t("kb.status"), status), field(t("kb.audience"), audience),
        field(t("kb.topic"), topic), field(t("kb.tags"), tags)),
      field(t("kb.body"), body), h("h3", {}, t("kb.preview")), preview,
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "kb-save" }, t("kb.save")),
        articleId ? h("button", { type: "button", id: "kb-delete", onclick: remove }, t("kb.delete")) : null));
    async function remove() {
      if (!confirm(t("kb.delete.confirm", { id: articleId }))) return;
      try { await api.del(`/api/v1/articles/${enc(articleId)}`); mount(editor); search(); } catch (err) { showError(err); }
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api.put(`/api/v1/articles/${enc(idIn.value.trim())}`, {
          title: title.value, body: body.value, locale: loc.value, status: status.value, audience: audience.value,
          topic: topic.value.trim(),
          tags: tags.value.split(",").map((x) => x.trim()).filter(Boolean),
        });
        toast(t("kb.saved"), "ok");
        search();
      } catch (err) { showError(err); }
    });
    mount(editor, section(articleId ? t("kb.edit") : t("kb.new"), form));
  }

  const bar = h("form", { class: "search-bar", role: "search" }, q, locale,
    h("button", { type: "submit" }, t("search.go")),
    admin && has("put", "/api/v1/articles/{article_id}")
      ? h("button", { type: "button", id: "kb-new", onclick: () => edit("") }, t("kb.new")) : null);
  bar.addEventListener("submit", (ev) => { ev.preventDefault(); search(); });
  mount(root, h("div", { class: "ticket-layout" },
    h("div", { class: "main-col" }, section(t("kb.title.page"), bar, results)),
    h("aside", { class: "side-col" }, editor)));
  search();
  if (id) open(id);
  return null;
}

/** Put `text` into the reply box (after what is there), for the agent to edit and send. */
function insert(text) {
  const box = document.getElementById("reply-text");
  if (!box) { toast(t("kb.insert.nobox"), "error"); return; }
  box.value = box.value.trim() ? `${box.value.trimEnd()}\n\n${text}` : text;
  box.focus();
}

function why(w) {
  const parts = [...(w.entities || []).map((e) => h("mark", { class: "entity" }, e)),
    ...(w.terms || []).map((x) => h("mark", { class: "keyword" }, x))];
  return parts.length ? h("div", { class: "why" }, h("span", { class: "muted" }, `${t("kb.why")} `), parts) : null;
}

/** The ticket's suggestions (#suggestions): similar resolved tickets and articles. */
export function suggestionsPanel(tk) {
  if (!has("get", "/api/v1/tickets/{ticket_id}/suggestions")) return null;
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  api.get(`/api/v1/tickets/${enc(tk.id)}/suggestions`).then((s) => {
    const tickets = s.tickets.map((x) => h("li", { class: "suggestion", dataset: { ticket: x.id } },
      h("div", { class: "msg-head" }, h("strong", {}, x.id), " ", x.subject || "",
        h("span", { class: "muted" }, ` ${t("kb.score")} ${x.score.toFixed(2)}`)),
      h("div", { class: "msg-text" }, x.reply), why(x.why),
      h("button", { type: "button", class: "insert", onclick: () => insert(x.reply) }, t("kb.insert"))));
    const articles = s.articles.map((a) => h("li", { class: "suggestion", dataset: { article: a.id } },
      h("div", { class: "msg-head" }, h("strong", {}, a.title), audienceBadge(a), h("span", { class: "chip" }, a.locale),
        h("span", { class: "muted" }, ` ${t("kb.score")} ${a.score.toFixed(2)}`)),
      h("div", { class: "msg-text snippet" }, marked(a.snippet.text, a.snippet.marks)), why(a.why),
      h("button", { type: "button", class: "insert", onclick: () => insert(a.body) }, t("kb.insert"))));
    mount(body,
      h("h3", {}, t("kb.similar")),
      tickets.length ? h("ol", { class: "suggestions", id: "suggested-tickets" }, tickets) : h("p", { class: "empty" }, s.ready ? t("kb.similar.none") : t("kb.building")),
      h("h3", {}, t("kb.articles")),
      articles.length ? h("ol", { class: "suggestions", id: "suggested-articles" }, articles) : h("p", { class: "empty" }, t("kb.none")));
  }).catch((err) => mount(body, h("p", { class: "empty" }, err.message)));
  return h("section", { class: "card", id: "suggestions" }, h("h2", {}, t("kb.suggestions")), body);
}
