/* Deskgate visitor chat widget. A site embeds it with one tag:
 *
 *   <script src="https://GATEWAY/webchat/widget.js" data-account="ACCOUNT"
 *           data-visitor-token="TOKEN FROM YOUR BACKEND" async></script>
 *
 * Without data-visitor-token the gateway mints an anonymous visitor, if the account allows it.
 * Optional: data-lang="zh|en" (else the browser's language), data-title.
 * Everything lives in a shadow root, so the site's styles and ours do not meet; every string
 * from the visitor or an agent is set as text, never parsed as HTML.
 *
 * Steps before the first message: window.DeskgateChat.beforeChat holds functions
 * (ctx) => Promise<boolean>, run in order when the visitor sends their first message; ctx has
 * {text, account, base, lang, area} (area: an element of the panel the step may fill). A step
 * resolving false stops there (e.g. a suggested article answered the question) and the message
 * is not sent. This is where "suggested articles" (GET /webchat/{account}/faq?q=) plugs in.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.DeskgateChat && window.DeskgateChat.started) return;

  var base = new URL(script.src, location.href).origin;
  var account = script.getAttribute("data-account") || "";
  var siteToken = script.getAttribute("data-visitor-token") || "";
  var lang = script.getAttribute("data-lang") ||
    ((navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh" : "en");
  if (lang !== "zh") lang = "en";
  var POLL_MS = 4000;
  var MAX_CHARS = 4000;
  var TEXT = {
    en: {open: "Chat with us", title: "Customer service", close: "Close chat",
         placeholder: "Type your message…", send: "Send", you: "You", us: "Customer service",
         sending: "sending…", failed: "not sent", tooLong: "At most 4,000 characters, please.",
         unavailable: "Chat is not available right now. Please try again later.",
         expired: "Your chat session has expired. Please reload the page.",
         greeting: "Hello! How can we help you?"},
    zh: {open: "在线客服", title: "在线客服", close: "关闭",
         placeholder: "请输入您的问题…", send: "发送", you: "我", us: "客服",
         sending: "发送中…", failed: "未发送", tooLong: "每条消息最多 4000 字。",
         unavailable: "在线客服暂时不可用，请稍后再试。",
         expired: "会话已过期，请刷新页面。",
         greeting: "您好！请问有什么可以帮您？"}
  };
  var t = TEXT[lang];

  var api = window.DeskgateChat = window.DeskgateChat || {};
  api.started = true;
  api.beforeChat = api.beforeChat || [];

  // --- storage: one conversation per account and visitor, kept across page loads ---------
  var KEY = "deskgate-chat:" + account;
  function visitorOf(token) {
    var parts = token.split(".");
    return parts.length >= 3 ? parts.slice(0, -2).join(".") : "";
  }
  function expiresOf(token) {
    var parts = token.split(".");
    return Number(parts[parts.length - 2]) || 0;
  }
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  var state = load() || {};
  if (siteToken) {
    if (state.visitor !== visitorOf(siteToken)) state = {};
    state.token = siteToken;
    state.visitor = visitorOf(siteToken);
  } else if (state.token && (state.site || expiresOf(state.token) * 1000 < Date.now())) {
    state = {};      // a signed-in visitor's conversation is not shown once they signed out
  }
  state.site = !!siteToken;
  state.log = state.log || [];
  state.cursor = state.cursor || 0;
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }

  // --- the panel ---------------------------------------------------------------------------
  var host = document.createElement("div");
  host.setAttribute("data-deskgate-chat", account);
  var root = host.attachShadow({mode: "open"});
  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = base + "/webchat/widget.css";
  root.appendChild(css);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  var launcher = el("button", "launcher", t.open);
  launcher.type = "button";
  var badge = el("span", "badge", "");
  badge.hidden = true;
  launcher.appendChild(badge);
  var panel = el("section", "panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", script.getAttribute("data-title") || t.title);
  var head = el("header", "head");
  head.appendChild(el("h2", "", script.getAttribute("data-title") || t.title));
  var closer = el("button", "close", "×");
  closer.type = "button";
  closer.setAttribute("aria-label", t.close);
  head.appendChild(closer);
  var log = el("ol", "log");
  log.setAttribute("aria-live", "polite");
  var area = el("div", "steps");        // where a before-chat step shows its content
  var notice = el("p", "notice");
  notice.hidden = true;
  var form = el("form", "compose");
  var input = el("textarea");
  input.rows = 2;
  input.maxLength = MAX_CHARS;
  input.placeholder = t.placeholder;
  input.setAttribute("aria-label", t.placeholder);
  var sendButton = el("button", "send", t.send);
  sendButton.type = "submit";
  form.appendChild(input);
  form.appendChild(sendButton);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(area);
  panel.appendChild(notice);
  panel.appendChild(form);
  root.appendChild(launcher);
  root.appendChild(panel);

  function say(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function render() {
    log.textContent = "";
    log.appendChild(el("li", "entry us greeting", t.greeting));
    state.log.forEach(function (m) {
      var li = el("li", "entry " + (m.who === "me" ? "me" : "us"));
      li.setAttribute("data-id", m.id);
      li.appendChild(el("span", "who", m.who === "me" ? t.you : t.us));
      li.appendChild(el("span", "text", m.text));
      if (m.who === "me" && m.state !== "sent") {
        li.appendChild(el("span", "state", m.state === "failed" ? t.failed : t.sending));
      }
      log.appendChild(li);
    });
    log.scrollTop = log.scrollHeight;
    var unread = state.log.filter(function (m) { return m.who === "us" && !m.read; }).length;
    badge.textContent = String(unread);
    badge.hidden = !unread || !panel.hidden;
  }

  // --- calls to the gateway ----------------------------------------------------------------
  function call(method, path, body) {
    var headers = {"Authorization": "Bearer " + state.token};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(base + "/webchat/" + encodeURIComponent(account) + path, {
      method: method, headers: headers, mode: "cors", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  }

  var minting = null;
  function ensureToken() {
    if (state.token) return Promise.resolve(true);
    if (!minting) {
      minting = fetch(base + "/webchat/" + encodeURIComponent(account) + "/visitors",
                      {method: "POST", mode: "cors", credentials: "omit"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (b) {
          minting = null;
          if (!b) return false;
          state.token = b.token;
          state.visitor = b.visitor;
          save();
          return true;
        }, function () { minting = null; return false; });
    }
    return minting;
  }

  function tokenRefused() {
    if (state.site) {
      say(t.expired);
    } else {
      state = {log: state.log, cursor: 0, site: false};   // a fresh anonymous visitor
      save();
    }
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // A message keeps its client id through every retry: the gateway takes it once.
  function deliver(m, attempt) {
    ensureToken().then(function (ok) {
      if (!ok) throw new Error("no token");
      return call("POST", "/visitor/messages", {client_id: m.id, text: m.text});
    }).then(function (r) {
      if (r.ok) {
        m.state = "sent";
        say("");
        save();
        render();
        schedulePoll(500);
        return;
      }
      if (r.status === 401 || r.status === 403) tokenRefused();
      if (r.status === 429 || r.status >= 500 || r.status === 401 || r.status === 403) {
        throw new Error("retry");
      }
      m.state = "failed";
      r.json().then(function (b) { say((b.error && b.error.message) || t.unavailable); },
                    function () { say(t.unavailable); });
      save();
      render();
    }).catch(function () {
      if (attempt >= 6) {
        m.state = "failed";
        say(t.unavailable);
        save();
        render();
        return;
      }
      setTimeout(function () { deliver(m, attempt + 1); }, Math.min(30000, 1000 * Math.pow(2, attempt)));
    });
  }

  function runSteps(text) {
    var steps = api.beforeChat.slice();
    var ctx = {text: text, account: account, base: base, lang: lang, area: area};
    return steps.reduce(function (p, step) {
      return p.then(function (go) { return go ? Promise.resolve(step(ctx)).then(Boolean) : false; });
    }, Promise.resolve(true)).catch(function () { return true; });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { say(t.tooLong); return; }
    var first = !state.log.some(function (m) { return m.who === "me"; });
    (first ? runSteps(text) : Promise.resolve(true)).then(function (go) {
      if (!go) return;
      var m = {id: uuid(), who: "me", text: text, at: Date.now(), state: "sending"};
      state.log.push(m);
      input.value = "";
      save();
      render();
      deliver(m, 0);
    });
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });

  // --- agents' replies -----------------------------------------------------------------------
  var pollTimer = null;
  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }
  function markRead() {
    if (panel.hidden || document.hidden) return;
    state.log.forEach(function (m) {
      if (m.who === "us" && !m.read) {
        m.read = true;
        call("POST", "/visitor/replies/" + encodeURIComponent(m.id) + "/read").catch(function () {});
      }
    });
    save();
    render();
  }
  function poll() {
    var talking = state.token && state.log.some(function (m) { return m.who === "me"; });
    if (!talking || document.hidden) { schedulePoll(POLL_MS); return; }
    call("GET", "/visitor/replies?after=" + encodeURIComponent(state.cursor)).then(function (r) {
      if (r.status === 401 || r.status === 403) { tokenRefused(); return null; }
      return r.ok ? r.json() : null;
    }).then(function (b) {
      if (b) {
        var known = {};
        state.log.forEach(function (m) { known[m.id] = true; });
        b.replies.forEach(function (reply) {
          if (!known[reply.id]) {
            state.log.push({id: reply.id, who: "us", text: reply.text, at: reply.created_at});
          }
        });
        state.cursor = b.cursor;
        save();
        render();
        markRead();
      }
      schedulePoll(POLL_MS);
    }, function () { schedulePoll(POLL_MS * 2); });
  }

  function open() {
    panel.hidden = false;
    launcher.hidden = true;
    render();
    markRead();
    input.focus();
  }
  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    render();
  }
  launcher.addEventListener("click", open);
  closer.addEventListener("click", close);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { markRead(); schedulePoll(0); }
  });
  api.open = open;
  api.close = close;

  function start() {
    document.body.appendChild(host);
    render();
    // messages a closed tab left unsent go now, with the same ids
    state.log.forEach(function (m) { if (m.who === "me" && m.state === "sending") deliver(m, 0); });
    schedulePoll(0);
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
