// The console's shell: sign-in, navigation by role, hash routes, live status, language and
// keyboard shortcuts.

import { h, mount } from "./dom.js";
import { t, setLang, currentLang, onLangChange } from "./i18n.js";
import { currentSession, login, logout, loadOperations, onUnauthorized } from "./api.js";
import { startLive, stopLive, onLiveStatus } from "./live.js";
import { showError } from "./ui.js";
import { queuesView, takeNext } from "./views/agent.js";
import { ticketsView } from "./views/tickets.js";
import { ticketView } from "./views/ticket.js";
import { reviewView, boardView, statsView } from "./views/manager.js";
import { adminView } from "./views/admin.js";
import { channelsView } from "./views/channels.js";
import { slaView } from "./views/sla.js";
import { reportsView } from "./views/reports.js";
import { modelsView } from "./views/models.js";
import { autoAnswersView } from "./views/auto_answers.js";
import { articlesView } from "./views/knowledge.js";

const ROUTES = {
  queues: { view: queuesView, roles: ["agent", "manager", "admin"], nav: "nav.queues" },
  tickets: { view: ticketsView, roles: ["agent", "manager", "admin"], nav: "nav.tickets" },
  review: { view: reviewView, roles: ["manager", "admin"], nav: "nav.review" },
  board: { view: boardView, roles: ["manager", "admin"], nav: "nav.board" },
  stats: { view: statsView, roles: ["manager", "admin"], nav: "nav.stats" },
  reports: { view: reportsView, roles: ["manager", "admin"], nav: "nav.reports" },
  admin: { view: adminView, roles: ["admin"], nav: "nav.admin" },
  channels: { view: channelsView, roles: ["admin"], nav: "nav.channels" },
  sla: { view: slaView, roles: ["admin"], nav: "nav.sla" },
  models: { view: modelsView, roles: ["admin"], nav: "nav.models" },
  "auto-answers": { view: autoAnswersView, roles: ["admin"], nav: "nav.autoanswers" },
  articles: { view: articlesView, roles: ["agent", "manager", "admin"], nav: "nav.articles" },
  ticket: { view: ticketView, roles: ["agent", "manager", "admin"] },
};
const HOME = { agent: "#/queues", manager: "#/review", admin: "#/admin" };

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const live = document.getElementById("live");
const langButton = document.getElementById("lang");
const helpDialog = document.getElementById("help");

const ctx = {
  session: null,
  navigate(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  refresh() { route(); },
};
let cleanup = null;

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  return { name, arg: decodeURIComponent(rest.join("/")), params: new URLSearchParams(query) };
}

function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!ctx.session) { renderLogin(); return; }
  const { name, arg, params } = parseHash();
  const r = ROUTES[name];
  if (!r || !r.roles.includes(ctx.session.role)) { location.replace(HOME[ctx.session.role]); return; }
  renderNav(name);
  try {
    cleanup = r.view(ctx, view, params, arg) || null;
  } catch (err) { showError(err); }
  view.focus({ preventScroll: true });
}

function renderNav(active) {
  mount(nav, Object.entries(ROUTES).filter(([, r]) => r.nav && r.roles.includes(ctx.session.role)).map(([name, r]) =>
    h("a", { href: `#/${name}`, class: name === active || (active === "ticket" && name === "queues") ? "active" : "" }, t(r.nav))));
  mount(who, h("span", { class: "role" }, t(`role.${ctx.session.role}`)), " ",
    h("span", { class: "mono" }, ctx.session.agent_id || ctx.session.label || ctx.session.token_id));
  document.body.classList.add("signed-in");
}

function renderLogin() {
  document.body.classList.remove("signed-in");
  mount(nav);
  mount(who);
  const token = h("input", { type: "password", name: "token", id: "token", required: true, autocomplete: "off",
    spellcheck: "false", placeholder: "dgt_…" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "login card", id: "login-form" },
    h("h1", {}, t("login.title")),
    h("label", { class: "field" }, h("span", { class: "label" }, t("login.token")), token),
    h("p", { class: "muted" }, t("login.hint")), error,
    h("button", { type: "submit", class: "primary" }, t("login.submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      ctx.session = await login(token.value.trim());
      await start();
    } catch (err) { error.textContent = t("login.failed", { msg: err.message }); }
  });
  mount(view, h("div", { class: "login-wrap" }, form));
  token.focus();
}

async function start() {
  await loadOperations();
  startLive(signedOut);
  if (!parseHash().name || parseHash().name === "login") location.replace(HOME[ctx.session.role]);
  route();
}

function signedOut() {
  ctx.session = null;
  stopLive();
  route();
}

function renderStatic() {
  document.title = `${t("app.name")} · ${t("app.tagline")}`;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  langButton.textContent = t("lang.switch");
}

langButton.addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
onLangChange(() => { renderStatic(); route(); });
document.getElementById("logout").addEventListener("click", async () => {
  try { await logout(); } catch (err) { showError(err); }
  signedOut();
});
document.getElementById("help-open").addEventListener("click", () => helpDialog.showModal());
onUnauthorized(() => { if (ctx.session) signedOut(); });
onLiveStatus((ok) => {
  live.classList.toggle("off", !ok);
  live.textContent = ok ? t("live.on") : t("live.off");
});
window.addEventListener("hashchange", route);

let pendingG = false;
document.addEventListener("keydown", (ev) => {
  if (!ctx.session || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const typing = ev.target.closest?.("input, textarea, select, [contenteditable]");
  if (typing) return;
  if (pendingG) {
    pendingG = false;
    const go = { q: "#/queues", r: "#/review", b: "#/board", s: "#/stats", t: "#/tickets", a: "#/admin" }[ev.key];
    if (go) { ev.preventDefault(); ctx.navigate(go); }
    return;
  }
  if (ev.key === "g") { pendingG = true; return; }
  if (ev.key === "n" && ctx.session.agent_id) { ev.preventDefault(); takeNext(ctx); }
  else if (ev.key === "r") {
    const form = document.getElementById("resolve-form");
    if (form) { ev.preventDefault(); form.scrollIntoView({ block: "center" }); form.querySelector("input, select")?.focus(); }
  } else if (ev.key === "/") {
    ev.preventDefault();
    if (parseHash().name !== "tickets") ctx.navigate("#/tickets");
    setTimeout(() => document.getElementById("search")?.focus(), 0);
  } else if (ev.key === "?") { ev.preventDefault(); helpDialog.showModal(); }
});

renderStatic();
currentSession().then((s) => { ctx.session = s; return start(); }).catch(() => route());
