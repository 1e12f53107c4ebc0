// The agent's home: their queues (live), "take next", and the tickets they hold.

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc } from "../api.js";
import { onBoard } from "../live.js";
import { ago, priorityBadge, channelBadge, section, select, showError, toast } from "../ui.js";

export async function takeNext(ctx) {
  try {
    const { ticket } = await api.post(`/api/v1/agents/${enc(ctx.session.agent_id)}/claim`);
    if (!ticket) { toast(t("next.empty")); return; }
    ctx.navigate(`#/ticket/${ticket.id}`);
  } catch (err) {
    if (err.status === 409) toast(err.message.includes("capacity") ? t("next.full") : err.message, "warn");
    else showError(err);
  }
}

export function queuesView(ctx, root) {
  const cards = h("div", { class: "queue-cards" });
  const load = h("span", { class: "load" });
  const mine = h("div", {});
  const canClaim = !!ctx.session.agent_id;
  mount(root,
    h("div", { class: "toolbar" },
      canClaim ? h("button", { class: "primary big", id: "take-next", onclick: () => takeNext(ctx) }, t("next.button"), h("kbd", {}, "n")) : null,
      load, canClaim ? statusPicker(ctx) : null),
    section(t("queues.title"), cards),
    canClaim ? section(t("mine.title"), mine) : null);

  let held = "";
  const off = onBoard((board) => {
    mount(cards, board.queues.length ? board.queues.map((q) => h("div", { class: ["queue-card", q.depth ? "busy" : "idle"] },
      h("div", { class: "skill" }, queueLabel(q)),
      h("div", { class: "depth" }, String(q.depth)),
      h("div", { class: "sub" }, q.depth ? t("queue.oldest", { t: ago(q.oldest_wait_seconds) }) : t("queue.none"))))
      : h("p", { class: "empty" }, t("queues.empty")));
    const me = board.agents.find((a) => a.id === ctx.session.agent_id);
    if (me) load.textContent = t("mine.load", { load: me.load, cap: me.capacity });
    const now = (me?.holding || []).join(",");
    if (canClaim && now !== held) { held = now; renderMine(me?.holding || [], mine, ctx); }
  });
  if (canClaim) renderMine(null, mine, ctx);
  return off;
}

async function renderMine(ids, box, ctx) {
  try {
    const { tickets } = await api.get(`/api/v1/agents/${enc(ctx.session.agent_id)}/tickets`);
    const mine = tickets.filter((tk) => !ids || ids.includes(tk.id));
    mount(box, mine.length ? h("ul", { class: "ticket-list" }, mine.map((tk) => ticketRow(tk)))
      : h("p", { class: "empty" }, t("mine.empty")));
  } catch (err) { showError(err); }
}

export function ticketRow(tk) {
  return h("li", {}, h("a", { href: `#/ticket/${enc(tk.id)}`, class: "ticket-row" },
    h("span", { class: "tid" }, tk.id), priorityBadge(tk.priority), channelBadge(tk.channel),
    h("span", { class: "subject" }, tk.subject || t("common.none")),
    tk.unverified_sender ? h("span", { class: "badge unverified", title: t("ticket.unverified.help") }, t("ticket.unverified")) : null,
    h("span", { class: "muted" }, tk.skill)));
}

/** "billing" or "billing · L2" for a queue that needs skill level 2. */
export function queueLabel(q) { return q.level > 1 ? `${q.skill} · L${q.level}` : q.skill; }

function statusPicker(ctx) {
  const pick = select("status", ["online", "away", "offline"].map((s) => [s, t(`status.${s}`)]));
  pick.id = "my-status";
  api.get(`/api/v1/agents/${enc(ctx.session.agent_id)}`).then((a) => { pick.value = a.status; }).catch(() => {});
  pick.addEventListener("change", async () => {
    try { await api.put(`/api/v1/agents/${enc(ctx.session.agent_id)}/status`, { status: pick.value }); } catch (err) { showError(err); }
  });
  return h("label", { class: "status-pick" }, `${t("agent.mystatus")} `, pick);
}
