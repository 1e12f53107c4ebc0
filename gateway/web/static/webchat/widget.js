/* Deskgate visitor chat widget. A site embeds it with one tag:
 *
 *   <script src="https://GATEWAY/webchat/widget.js" data-account="ACCOUNT"
 *           data-visitor-token="TOKEN FROM YOUR BACKEND" async></script>
 *
 * Without data-visitor-token the gateway mints an anonymous visitor, if the account allows it.
 * Optional: data-lang="zh|en" (else the browser's language), data-title, data-faq="off".
 * Everything lives in a shadow root, so the site's styles and ours do not meet; every string
 * from the visitor or an agent is set as text, never parsed as HTML.
 *
 * Steps before the first message: window.DeskgateChat.beforeChat holds functions
 * (ctx) => Promise<boolean>, run in order when the visitor sends their first message; ctx has
 * {text, account, base, lang, area} (area: an element of the panel the step may fill). A step
 * resolving false stops there (e.g. a suggested article answered the question) and the message
 * is not sent.
 *
 * Built in, before those steps: the FAQ. The first message is first asked of the account's
 * published articles (GET /webchat/{account}/faq?q=); if any match, the visitor sees them (title,
 * snippet, the article on request) with "this solved it" per article (the message is not sent)
 * and "I still need help" (it is sent). None, or any failure: the message goes at once.
 * data-faq="off" leaves it out.
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
  var faqOn = script.getAttribute("data-faq") !== "off";
  var FAQ_MAX_Q = 500;
  var TEXT = {
    en: {open: "Chat with us", title: "Customer service", close: "Close chat",
         placeholder: "Type your message…", send: "Send", you: "You", us: "Customer service",
         sending: "sending…", failed: "not sent", tooLong: "At most 4,000 characters, please.",
         unavailable: "Chat is not available right now. Please try again later.",
         expired: "Your chat session has expired. Please reload the page.",
         greeting: "Hello! How can we help you?",
         faqHead: "These articles may answer your question:", solved: "This solved it",
         needHelp: "I still need help", read: "Read the article", hide: "Hide the article",
         thanks: "Glad that helped! Write again any time."},
    zh: {open: "在线客服", title: "在线客服", close: "关闭",
         placeholder: "请输入您的问题…", send: "发送", you: "我", us: "客服",
         sending: "发送中…", failed: "未发送", tooLong: "每条消息最多 4000 字。",
         unavailable: "在线客服暂时不可用，请稍后再试。",
         expired: "会话已过期，请刷新页面。",
         greeting: "您好！请问有什么可以帮您？",
         faqHead: "以下文章也许能解答您的问题：", solved: "这解决了我的问题",
         needHelp: "我仍需要帮助", read: "查看全文", hide: "收起全文",
         thanks: "很高兴帮到您！如有其他问题，欢迎随时留言。"}
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

  // --- the FAQ, before the first message ---------------------------------------------------
  // Public calls (no visitor token): the FAQ knows no visitor, and none is minted for a
  // question the articles answer.
  function faqCall(method, path, body) {
    var init = {method: method, mode: "cors", credentials: "omit"};
    if (body !== undefined) {
      init.headers = {"Content-Type": "application/json"};
      init.body = JSON.stringify(body);
    }
    return fetch(base + "/webchat/" + encodeURIComponent(account) + "/faq" + path, init);
  }
  function faqFeedback(id, solved) {
    // counted for the deflection figure only: the visitor's way on does not wait for it
    faqCall("POST", "/feedback", {article_id: id, solved: solved}).catch(function () {});
  }
  function button(cls, text) {
    var b = el("button", cls, text);
    b.type = "button";
    return b;
  }
  function faqArticle(a, done) {
    var li = el("li", "faq-article");
    li.setAttribute("data-article", a.id);
    li.appendChild(el("h3", "faq-title", a.title));
    li.appendChild(el("p", "faq-snippet", a.snippet));
    var body = el("div", "faq-body");
    body.hidden = true;
    var toggle = button("faq-read", t.read);
    toggle.setAttribute("aria-expanded", "false");
    toggle.addEventListener("click", function () {
      var opening = body.hidden;
      body.hidden = !opening;
      toggle.textContent = opening ? t.hide : t.read;
      toggle.setAttribute("aria-expanded", String(opening));
      if (!opening || body.getAttribute("data-loaded")) return;
      faqCall("GET", "/" + encodeURIComponent(a.id)).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (b) {
        body.textContent = b ? b.body : t.unavailable;     // Markdown shown as its text
        if (b) body.setAttribute("data-loaded", "1");
      }, function () { body.textContent = t.unavailable; });
    });
    var solved = button("faq-solved", t.solved);
    solved.addEventListener("click", function () { done(a.id); });
    li.appendChild(toggle);
    li.appendChild(body);
    li.appendChild(solved);
    return li;
  }
  function faqStep(ctx) {
    // the FAQ takes 500 characters of a question: a long message's start says what it is about
    var q = ctx.text.slice(0, FAQ_MAX_Q);
    return faqCall("GET", "?q=" + encodeURIComponent(q) + "&lang=" + ctx.lang)
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (b) {
        var found = b && b.articles || [];
        if (!found.length) return true;
        return new Promise(function (resolve) {
          var box = el("div", "faq");
          box.appendChild(el("p", "faq-head", t.faqHead));
          var list = el("ol", "faq-list");
          function done(id) {
            faqFeedback(id, true);
            ctx.area.textContent = "";
            input.value = "";
            say(t.thanks);
            resolve(false);
          }
          found.forEach(function (a) { list.appendChild(faqArticle(a, done)); });
          box.appendChild(list);
          var more = button("faq-help", t.needHelp);
          more.addEventListener("click", function () {
            found.forEach(function (a) { faqFeedback(a.id, false); });
            ctx.area.textContent = "";
            resolve(true);
          });
          box.appendChild(more);
          say("");
          ctx.area.textContent = "";
          ctx.area.appendChild(box);
          list.querySelector("button").focus();
        });
      }, function () { return true; });
  }

  function runSteps(text) {
    var steps = (faqOn ? [faqStep] : []).concat(api.beforeChat);
    var ctx = {text: text, account: account, base: base, lang: lang, area: area};
    return steps.reduce(function (p, step) {
      return p.then(function (go) { return go ? Promise.resolve(step(ctx)).then(Boolean) : false; });
    }, Promise.resolve(true)).catch(function () { return true; });
  }

  var stepping = false;     // the steps of one first message at a time
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text || stepping) return;
    if (text.length > MAX_CHARS) { say(t.tooLong); return; }
    var first = !state.log.some(function (m) { return m.who === "me"; });
    stepping = first;
    (first ? runSteps(text) : Promise.resolve(true)).then(function (go) {
      stepping = false;
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
