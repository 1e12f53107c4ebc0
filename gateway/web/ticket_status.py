"""The customer's ticket status page: GET /status/{token} shows, with no login, the ticket's
number, its status in the customer's words and the public thread (their messages and our
replies with each reply's delivery state), in the ticket's language with a switch, on a phone.

The signed link (models/status.py) is the authorisation, for one ticket, until it expires: a
tampered link gets 403, an expired one 410, each page saying what to do. Views are limited per
client address before the link is even checked, so guessing links costs the guesser. The page
is built from models.status.StatusView alone, which holds nothing internal."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime, timedelta, timezone

from aiohttp import web

from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web import customer_page
from deskgate.gateway.web.client_address import client_address
from deskgate.models.errors import Forbidden
from deskgate.models.links import LinkExpired
from deskgate.models.status import Entry, StatusView
from deskgate.queue.sessions import login_source
from deskgate.queue.status import StatusLinks

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your request {ticket}", "plain_title": "Your request",
        "received": "Received", "handling": "Being handled", "waiting": "Waiting for you",
        "resolved": "Resolved",
        "received_hint": "We have your request and will answer as soon as we can.",
        "handling_hint": "Someone on our team is working on it.",
        "waiting_hint": "We asked you something: please reply to our last message.",
        "resolved_hint": "We consider it solved. If it is not, reply to our last message and "
                         "we will pick it up again.",
        "thread": "Conversation", "you": "You", "us": "Customer service",
        "earlier": "Earlier messages are not shown here.", "clipped": "(shortened)",
        "files": "Files: ", "updated": "Last update: {at}", "tz": "UTC",
        "queued": "sending", "sent": "sent", "delivered": "delivered", "read": "read",
        "failed": "could not be delivered — you can read it here",
        "empty": "No messages yet.", "switch": "中文",
        "invalid": "This link is not valid. Make sure you opened the whole link from our "
                   "message; if it still fails, write to us again and we will send a new one.",
        "expired": "This link has expired. Reply to our last message or write to us again, "
                   "and we will send you a new link.",
        "missing": "We cannot find this request any more. Please write to us again.",
        "limited": "Too many views from your network. Please try again in {wait} seconds.",
    },
    "zh": {
        "title": "您的工单 {ticket}", "plain_title": "您的工单",
        "received": "已受理", "handling": "处理中", "waiting": "等待您的回复", "resolved": "已解决",
        "received_hint": "我们已收到您的问题，会尽快为您处理。",
        "handling_hint": "客服人员正在处理您的问题。",
        "waiting_hint": "我们需要您提供一些信息，请回复我们的最后一条消息。",
        "resolved_hint": "问题已解决。如果仍未解决，直接回复我们的最后一条消息即可，我们会继续跟进。",
        "thread": "沟通记录", "you": "您", "us": "客服",
        "earlier": "更早的消息未在此显示。", "clipped": "（已截断）",
        "files": "附件：", "updated": "最后更新：{at}", "tz": "北京时间",
        "queued": "发送中", "sent": "已发送", "delivered": "已送达", "read": "已读",
        "failed": "未能送达，您可以在此查看",
        "empty": "暂无消息。", "switch": "English",
        "invalid": "此链接无效。请确认您打开的是我们消息中的完整链接；如仍无法打开，请重新联系我们，"
                   "我们会发给您新的链接。",
        "expired": "此链接已过期。请回复我们的最后一条消息或重新联系我们，我们会发给您新的链接。",
        "missing": "找不到此工单，请重新联系我们。",
        "limited": "您所在网络的访问次数过多，请 {wait} 秒后再试。",
    },
}
# Times as the customer reads them: Beijing time on the Chinese page, UTC on the English one.
_ZONES = {"zh": timezone(timedelta(hours=8)), "en": UTC}
_STYLE = (
    ".stage{display:inline-block;padding:.25rem .7rem;border-radius:1rem;font-weight:600;"
    "background:#ddf4ff;color:#0550ae}.stage-resolved{background:#dafbe1;color:#116329}"
    ".stage-waiting{background:#fff8c5;color:#7d4e00}.hint{margin:.5rem 0 1.2rem}"
    "h2{font-size:1.05rem;margin:1.2rem 0 .5rem}ol{list-style:none;padding:0;margin:0}"
    "li.entry{margin:.6rem 0;padding:.6rem .8rem;border-radius:.6rem;background:#f6f8fa;"
    "overflow-wrap:anywhere}li.ours{background:#eef6ff;margin-left:1.5rem}"
    "li.theirs{margin-right:1.5rem}.meta{font-size:.8rem;color:#59636e;margin-bottom:.2rem}"
    ".text{white-space:pre-wrap}.lang{float:right;font-size:.9rem}small{color:#59636e}")


def _when(at: datetime, lang: str) -> str:
    return at.astimezone(_ZONES[lang]).strftime("%Y-%m-%d %H:%M")


def _entry(e: Entry, lang: str) -> str:
    t = TEXT[lang]
    who = t["us"] if e.ours else t["you"]
    state = f" · {html.escape(t[e.state.value])}" if e.ours and e.state else ""
    state_attr = f' data-state="{e.state.value}"' if e.ours and e.state else ""
    files = (f'<div class="meta">{html.escape(t["files"] + ", ".join(e.attachments))}</div>'
             if e.attachments else "")
    clipped = f' <small>{html.escape(t["clipped"])}</small>' if e.clipped else ""
    return (f'<li class="entry {"ours" if e.ours else "theirs"}"{state_attr}>'
            f'<div class="meta">{html.escape(who)} · {_when(e.at, lang)}{state}</div>'
            f'<div class="text">{html.escape(e.text)}</div>{clipped}{files}</li>')


def _status_page(v: StatusView, lang: str) -> web.Response:
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    entries = "".join(_entry(e, lang) for e in v.entries) or f"<li>{html.escape(t['empty'])}</li>"
    earlier = f'<p><small>{html.escape(t["earlier"])}</small></p>' if v.earlier else ""
    stage = v.stage.value
    body = (f'<a class="lang" href="?lang={other}" hreflang="{other}">{t["switch"]}</a>'
            f'<p><span id="stage" class="stage stage-{stage}" data-stage="{stage}">'
            f'{html.escape(t[stage])}</span></p>'
            f'<p class="hint">{html.escape(t[stage + "_hint"])}</p>'
            f'<h2>{html.escape(t["thread"])}</h2>{earlier}<ol id="thread">{entries}</ol>'
            f'<p><small>{html.escape(t["updated"].format(at=_when(v.updated_at, lang)))} '
            f'({html.escape(t["tz"])})</small></p>')
    return customer_page.page(lang, t["title"].format(ticket=v.ticket_id), body, style=_STYLE)


def _notice(lang: str, key: str, status: int, *, wait: int = 0) -> web.Response:
    t = TEXT[lang]
    return customer_page.page(
        lang, t["plain_title"], f'<p id="notice">{html.escape(t[key].format(wait=wait))}</p>',
        status=status, style=_STYLE, headers={"Retry-After": str(wait)} if wait else None)


async def page(request: web.Request) -> web.Response:
    links = StatusLinks(request.app[REDIS], request.app[KEYS])
    wait = await links.take_view(login_source(client_address(request)))
    if wait:
        return _notice(customer_page.language(request, TEXT), "limited", 429, wait=wait)
    try:
        ticket_id = await links.ticket_of(request.match_info["token"], time.time())
    except LinkExpired:
        return _notice(customer_page.language(request, TEXT), "expired", 410)
    except Forbidden:
        return _notice(customer_page.language(request, TEXT), "invalid", 403)
    found = await links.view(ticket_id)
    if found is None:
        return _notice(customer_page.language(request, TEXT), "missing", 404)
    return _status_page(found, customer_page.language(request, TEXT, found.language))

