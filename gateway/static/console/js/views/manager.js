// Managers: the review queue of high-risk tickets (live), the queue and agent board (live),
// and ticket volume over time.

import { h, mount } from "../dom.js";
import { t, currentLang } from "../i18n.js";
import { api, enc, operationsWhere } from "../api.js";
import { onBoard } from "../live.js";
import { meter, stackedBars } from "../charts.js";
import {
  ago, channelBadge, priorityBadge, schemaForm, section, select, showError, statusBadge, table, toast,
} from "../ui.js";

export function reviewView(ctx, root) {
  const count = h("span", { class: "count", id: "review-count" });
  const list = h("div", { id: "review-list" });
  mount(root, section(t("review.title"), count, list));
  // Review actions (acknowledge, false alarm, …) are offered when the API has them.
  const reviewOps = operationsWhere((op) => op.method === "post" && op.path.includes("/review/") && op.path.includes("{ticket_id}"));
  return onBoard((board) => {
    count.textContent = t("review.count", { n: board.review_total });
    const now = board.at;
    mount(list, board.review.length ? h("ul", { class: "review-list" }, board.review.map((r) =>
      h("li", { class: ["review-item", r.status === "resolved" ? "done" : ""], dataset: { ticket: r.ticket_id } },
        h("div", { class: "review-head" },
          h("a", { href: `#/ticket/${enc(r.ticket_id)}`, class: "tid" }, r.ticket_id),
          priorityBadge(r.priority), statusBadge(r.status), channelBadge(r.channel),
          h("span", { class: "muted" }, t("review.flagged", { t: ago(now - r.flagged_at) }))),
        h("div", { class: "subject" }, r.subject || t("common.none")),
        h("div", { class: "reasons" }, h("span", { class: "label" }, `${t("review.reasons")}: `),
          r.reasons.split("; ").filter(Boolean).map((x) => h("span", { class: "badge risk-high" }, x))),
        h("div", { class: "review-actions" },
          h("a", { class: "button", href: `#/ticket/${enc(r.ticket_id)}` }, t("review.open")),
          !["resolved", "closed"].includes(r.status) ? h("button", { class: "resolve-review", onclick: () => quickResolve(r.ticket_id) }, t("review.resolve")) : null,
          reviewOps.length ? h("details", {}, h("summary", {}, t("review.actions")),
            reviewOps.map((op) => schemaForm(op, () => toast(op.summary, "ok"), { ticket_id: r.ticket_id }))) : null))))
      : h("p", { class: "empty" }, t("review.empty")));
  });
}

async function quickResolve(ticketId) {
  try {
    await api.post(`/api/v1/tickets/${enc(ticketId)}/resolve`, {});
    toast(t("resolve.done", { id: ticketId }), "ok");
  } catch (err) { showError(err); }
}

export function boardView(ctx, root) {
  const queues = h("div", {});
  const agents = h("div", {});
  mount(root, h("div", { class: "two-col" }, section(t("board.queues"), queues), section(t("board.agents"), agents)),
    section(t("board.sla"), h("p", { class: "muted" }, t("board.sla.missing"))));
  return onBoard((board) => {
    mount(queues, table([t("t.skill"), t("queue.depth"), t("queue.oldest", { t: "" }).trim()],
      board.queues.map((q) => h("tr", { class: q.depth ? "" : "muted" }, h("td", {}, q.skill),
        h("td", { class: "num" }, String(q.depth)), h("td", {}, q.depth ? ago(q.oldest_wait) : t("common.none")))),
      t("board.noqueues")));
    mount(agents, table([t("board.agent"), t("board.status"), t("board.load"), t("board.skills"), t("board.team")],
      board.agents.map((a) => h("tr", {}, h("td", {}, a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id),
        h("td", {}, h("span", { class: ["badge", `agent-${a.status}`] }, t(`status.${a.status}`))),
        h("td", { class: "load-cell" }, meter(a.capacity ? a.load / a.capacity : 0, a.load >= a.capacity ? 3 : 1), ` ${a.load} / ${a.capacity}`),
        h("td", {}, a.skills.join(", ")), h("td", {}, a.team || t("common.none")))),
      t("board.noagents")));
  });
}

export function statsView(ctx, root, params) {
  const days = select("days", [["1", "1"], ["7", "7"], ["30", "30"], ["90", "90"]], params.get("days") || "7");
  const bucket = select("bucket", [["hour", t("stats.hour")], ["day", t("stats.day")]], params.get("bucket") || "day");
  const out = h("div", { class: "charts" });
  const total = h("p", { class: "muted" });
  async function load() {
    try {
      const v = await api.get(`/api/v1/stats/volume?days=${enc(days.value)}&bucket=${enc(bucket.value)}`);
      const fmt = new Intl.DateTimeFormat(currentLang() === "zh" ? "zh-CN" : "en-GB",
        v.bucket_seconds >= 86400 ? { month: "numeric", day: "numeric" } : { hour: "2-digit" });
      const labels = v.buckets.map((b) => fmt.format(new Date(b * 1000)));
      total.textContent = `${t("stats.total", { n: v.total })} ${v.truncated ? t("stats.truncated") : ""}`;
      mount(out, ["channel", "topic", "sentiment", "priority"].map((dim) =>
        stackedBars(v.series[dim], labels, { title: t("stats.by", { dim: t(`dim.${dim}`) }) })));
    } catch (err) { showError(err); }
  }
  days.addEventListener("change", load);
  bucket.addEventListener("change", load);
  mount(root, section(t("stats.title"), h("div", { class: "toolbar" },
    h("label", {}, `${t("stats.days")} `, days), h("label", {}, `${t("stats.bucket")} `, bucket), total), out));
  load();
  return null;
}
