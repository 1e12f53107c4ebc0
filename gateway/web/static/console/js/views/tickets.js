// Ticket search and listing (what /api/v1/tickets lets this role see).

import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { priorityBadge, statusBadge, channelBadge, section, select, showError, table, when } from "../ui.js";

const STATUSES = ["open", "assigned", "pending", "resolved", "closed"];

export function ticketsView(ctx, root, params) {
  const q = h("input", { type: "search", name: "q", id: "search", value: params.get("q") || "",
    placeholder: t("search.placeholder"), autocomplete: "off" });
  const status = select("status", [["", t("search.any")], ...STATUSES.map((s) => [s, t(`status.${s}`)])], params.get("status") || "");
  const results = h("div", {});
  let offset = 0;
  const rows = [];

  async function load(reset) {
    if (reset) { offset = 0; rows.length = 0; }
    const qs = new URLSearchParams({ limit: "50", offset: String(offset) });
    if (q.value.trim()) qs.set("q", q.value.trim());
    if (status.value) qs.set("status", status.value);
    try {
      const page = await api.get(`/api/v1/tickets?${qs}`);
      offset += page.tickets.length;
      rows.push(...page.tickets.map((tk) => h("tr", {},
        h("td", {}, h("a", { href: `#/ticket/${encodeURIComponent(tk.id)}` }, tk.id)),
        h("td", { class: "subject" }, tk.subject || t("common.none"),
          tk.unverified_sender ? h("span", { class: "badge unverified", title: t("ticket.unverified.help") }, t("ticket.unverified")) : null),
        h("td", {}, statusBadge(tk.status)), h("td", {}, priorityBadge(tk.priority)),
        h("td", {}, channelBadge(tk.channel)), h("td", {}, tk.skill),
        h("td", {}, tk.assignee || t("common.none")), h("td", {}, when(tk.created_at)))));
      mount(results, table([t("t.id"), t("t.subject"), t("t.status"), t("t.priority"), t("t.channel"),
        t("t.skill"), t("t.assignee"), t("t.created")], rows, t("search.none")),
      page.more ? h("button", { onclick: () => load(false) }, t("search.more")) : null);
    } catch (err) { showError(err); }
  }

  const form = h("form", { class: "search-bar", role: "search" }, q, status, h("button", { type: "submit" }, t("search.go")));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(true); });
  mount(root, section(t("search.title"), form, results));
  load(true);
  return null;
}
