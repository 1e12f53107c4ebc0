// Managers: the review queue of high-risk tickets (live), the queue and agent board (live),
// and ticket volume over time.

import { h, mount } from "../dom.js";
import { t, currentLang } from "../i18n.js";
import { api, enc } from "../api.js";
import { queueLabel } from "./agent.js";
import { urgentGuidance } from "./ticket.js";
import { onBoard } from "../live.js";
import { meter, stackedBars } from "../charts.js";
import {
  ago, priorityBadge, section, select, showError, statusBadge, table, toast,
} from "../ui.js";

export function reviewView(ctx, root) {
  const count = h("span", { class: "count", id: "review-count" });
  const list = h("div", { id: "review-list" });
  mount(root, section(t("review.title"), count, list));
  return onBoard((board) => {
    count.textContent = t("review.count", { n: board.review_total });
    const now = board.at;
    mount(list, board.review.length ? h("ul", { class: "review-list" }, board.review.map((r) =>
      h("li", { class: r.urgent ? "review-item urgent" : "review-item", dataset: { ticket: r.ticket_id } },
        h("div", { class: "review-head" },
          h("a", { href: `#/ticket/${enc(r.ticket_id)}`, class: "tid" }, r.ticket_id),
          r.urgent ? h("span", { class: "badge urgent" }, t("review.urgent")) : null,
          priorityBadge(r.priority), statusBadge(r.status), h("span", { class: "chip" }, r.skill),
          r.assignee ? h("span", { class: "chip" }, `${t("t.assignee")}: ${r.assignee}`) : null,
          h("span", { class: "muted" }, t("review.flagged", { t: ago(now - r.since) }))),
        h("div", { class: "subject" }, r.subject || t("common.none")),
        h("div", { class: "reasons" }, h("span", { class: "label" }, `${t("review.reasons")}: `),
          r.reasons.split("; ").filter(Boolean).map((x) => h("span", { class: "badge risk-high" }, x))),
        r.urgent ? urgentGuidance(ctx) : null,
        reviewActions(r))))
      : h("p", { class: "empty" }, t("review.empty")));
  });
}

/** The review actions of POST /api/v1/review/{ticket_id}; the item leaves the live list when
 *  the server has closed it. */
function reviewActions(r) {
  const act = (action, extra = {}) => async () => {
    try {
      await api.post(`/api/v1/review/${enc(r.ticket_id)}`, { action, ...extra });
      toast(t("review.done", { id: r.ticket_id, action: t(`review.${action}`) }), "ok");
    } catch (err) { showError(err); }
  };
  const target = h("input", { type: "text", name: "target", placeholder: t("review.target"), maxlength: 64, class: "inline" });
  const reassign = async () => {
    const v = target.value.trim();
    if (!v) { target.focus(); return; }
    await act("reassign", v.startsWith("@") ? { agent: v.slice(1) } : { skill: v })();
  };
  return h("div", { class: "review-actions" },
    h("a", { class: "button", href: `#/ticket/${enc(r.ticket_id)}` }, t("review.open")),
    h("button", { class: "ack", onclick: act("acknowledge") }, t("review.acknowledge")),
    h("button", { class: "false-alarm", onclick: act("false_alarm") }, t("review.false_alarm")),
    h("button", { class: "escalate", onclick: act("escalate") }, t("review.escalate")),
    h("span", { class: "reassign" }, target, h("button", { onclick: reassign }, t("review.reassign"))));
}

export function boardView(ctx, root) {
  const queues = h("div", {});
  const agents = h("div", {});
  const breaches = h("div", {});
  mount(root, h("div", { class: "two-col" }, section(t("board.queues"), queues), section(t("board.agents"), agents)),
    section(t("board.sla"), breaches));
  return onBoard((board) => {
    const late = board.review.filter((r) => r.reasons.includes("SLA breach"));
    mount(breaches, table([t("t.id"), t("t.subject"), t("review.reasons"), t("t.assignee"), ""],
      late.map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/ticket/${enc(r.ticket_id)}` }, r.ticket_id)),
        h("td", { class: "subject" }, r.subject), h("td", {}, r.reasons), h("td", {}, r.assignee || t("common.none")),
        h("td", { class: "muted" }, ago(board.at - r.since)))), t("board.sla.none")));
    mount(queues, table([t("t.skill"), t("queue.depth"), t("queue.oldest", { t: "" }).trim()],
      board.queues.map((q) => h("tr", { class: q.depth ? "" : "muted" }, h("td", {}, queueLabel(q)),
        h("td", { class: "num" }, String(q.depth)), h("td", {}, q.depth ? ago(q.oldest_wait_seconds) : t("common.none")))),
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
