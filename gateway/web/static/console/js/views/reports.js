// Managers: reports over the rollups (GET /api/v1/reports/{name}): date range and filters,
// volume over time, SLA / times / FCR / CSAT / review / transfers / agents / backlog / triage
// tables, the hour x weekday heat map; each table downloadable as CSV (the server neutralises
// formula cells).

import { h, mount, svg } from "../dom.js";
import { t, duration, currentLang } from "../i18n.js";
import { api, enc } from "../api.js";
import { hbars, stackedBars } from "../charts.js";
import { section, select, showError, table } from "../ui.js";

const TABLES = ["sla", "times", "fcr", "csat", "review", "transfers", "agents", "backlog", "topics", "triage", "backtest",
  "auto-answer"];
const CHANNELS = ["", "email", "webchat", "wechat", "whatsapp", "messenger", "telegram", "sms", "api", "web_form"];

function isoDay(d) { return d.toISOString().slice(0, 10); }

function cell(col, v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number" && /(_rate|attainment|^csat$)/.test(col)) return `${(100 * v).toFixed(1)}%`;
  if (typeof v === "number" && /_s$/.test(col)) return duration(v);
  return String(v);
}

function colLabel(col) {
  const key = `rc.${col}`;
  const s = t(key);
  return s === key ? col : s;
}

function heatmap(rows) {
  const cell_ = 22, left = 44, top = 18;
  const max = Math.max(1, ...rows.flatMap((r) => r.slice(1)));
  const out = svg("svg", { viewBox: `0 0 ${left + 24 * cell_} ${top + 7 * cell_}`, class: "heatmap",
    role: "img", "aria-label": t("rep.heatmap") });
  for (let hr = 0; hr < 24; hr += 3) {
    out.append(svg("text", { x: left + hr * cell_ + cell_ / 2, y: top - 5, class: "axis", "text-anchor": "middle" }, String(hr)));
  }
  rows.forEach((r) => {
    const d = r[0];
    out.append(svg("text", { x: left - 6, y: top + d * cell_ + cell_ / 2 + 4, class: "axis", "text-anchor": "end" }, t(`rep.wd${d}`)));
    r.slice(1).forEach((v, hr) => {
      out.append(svg("rect", { x: left + hr * cell_, y: top + d * cell_, width: cell_ - 2, height: cell_ - 2,
        fill: "#2563eb", "fill-opacity": (0.05 + 0.95 * v / max).toFixed(2), class: "heat-cell",
        dataset: { weekday: String(d), hour: String(hr), n: String(v) } },
      svg("title", {}, `${t(`rep.wd${d}`)} ${hr}:00 · ${v}`)));
    });
  });
  return h("figure", { class: "chart-box" }, h("figcaption", {}, t("rep.heatmap")), out);
}

export function reportsView(ctx, root, params) {
  const today = new Date();
  const from = h("input", { type: "date", name: "from", value: params.get("from") || isoDay(new Date(today - 29 * 86400000)) });
  const to = h("input", { type: "date", name: "to", value: params.get("to") || isoDay(today) });
  const team = h("input", { type: "text", name: "team", maxlength: 64, placeholder: t("rep.allteams"), value: params.get("team") || "" });
  const channel = select("channel", CHANNELS.map((c) => [c, c || t("rep.any")]), params.get("channel") || "");
  const priority = select("priority", ["", "P1", "P2", "P3", "P4"].map((p) => [p, p || t("rep.any")]), params.get("priority") || "");
  const out = h("div", { id: "reports" });

  function query(name, extra = "") {
    const q = new URLSearchParams({ from: from.value, to: `${to.value}T23:59:59` });
    if (team.value.trim()) q.set("team", team.value.trim());
    if (channel.value) q.set("channel", channel.value);
    if (priority.value) q.set("priority", priority.value);
    return `/api/v1/reports/${enc(name)}?${q}${extra}`;
  }

  function tableCard(name, data) {
    const csv = h("a", { class: "button csv", href: query(name, "&format=csv"), download: `deskgate-${name}.csv` }, t("rep.csv"));
    const rows = data.rows.map((r) => h("tr", {}, r.map((v, i) => h("td", { class: typeof v === "number" ? "num" : "" }, cell(data.columns[i], v)))));
    return h("section", { class: "card report", dataset: { report: name } },
      h("div", { class: "report-head" }, h("h2", {}, t(`rep.${name}`)), csv),
      table(data.columns.map(colLabel), rows, t("rep.empty")));
  }

  async function load() {
    try {
      const offset = -Math.round(new Date().getTimezoneOffset() / 60);
      const [series, heat, staffing, ...tables] = await Promise.all([
        api.get(query("series")), api.get(query("heatmap", `&tz_offset_hours=${offset}`)),
        api.get(query("staffing")), ...TABLES.map((n) => api.get(query(n)))]);
      // agents needed per team and hour for the next 14 days (Erlang C, 80% within 1 h)
      const need = {};
      const hours = [];
      staffing.rows.forEach(([team, hour, , agents]) => {
        (need[team] ||= []).push(agents);
        if (Object.keys(need).length === 1) hours.push(hour.slice(5, 13).replace("T", " "));
      });
      const fmt = new Intl.DateTimeFormat(currentLang() === "zh" ? "zh-CN" : "en-GB", { month: "numeric", day: "numeric" });
      const labels = series.rows.map((r) => fmt.format(new Date(r[0] * 1000)));
      const col = (name) => series.rows.map((r) => r[series.columns.indexOf(name)]);
      const backlog = tables[TABLES.indexOf("backlog")];
      const ages = {};
      backlog.columns.slice(2).forEach((band, i) => { ages[band] = backlog.rows.reduce((a, r) => a + r[i + 2], 0); });
      mount(out,
        h("div", { class: "two-col" },
          section(t("rep.series"), stackedBars({ [t("rep.created")]: col("created") }, labels, { title: t("rep.created") }),
            stackedBars({ [t("rep.resolved")]: col("resolved") }, labels, { title: t("rep.resolved") })),
          section(t("rep.ages"), hbars(ages), heatmap(heat.rows),
            h("a", { class: "button csv", href: query("heatmap", `&tz_offset_hours=${offset}&format=csv`) }, t("rep.csv")))),
        section(t("rep.staffing"), h("p", { class: "muted" }, t("rep.staffing.help")),
          Object.keys(need).length ? stackedBars(need, hours, { title: t("rep.agents_needed") }) : h("p", { class: "empty" }, t("rep.empty")),
          h("a", { class: "button csv", href: query("staffing", "&format=csv") }, t("rep.csv"))),
        TABLES.map((n, i) => tableCard(n, tables[i])));
    } catch (err) { showError(err); }
  }

  const go = h("button", { type: "submit", class: "primary" }, t("rep.apply"));
  const form = h("form", { class: "toolbar", id: "report-filters" },
    h("label", {}, `${t("rep.from")} `, from), h("label", {}, `${t("rep.to")} `, to),
    h("label", {}, `${t("rep.team")} `, team), h("label", {}, `${t("t.channel")} `, channel),
    h("label", {}, `${t("t.priority")} `, priority), go);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  mount(root, section(t("rep.title"), form), out);
  load();
  return null;
}
