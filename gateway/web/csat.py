"""The customer's satisfaction survey page: GET /csat/{token} shows a 1-5 choice and a
comment box (Chinese or English: ?lang=, else the browser's Accept-Language), POST records
the answer. No login: the signed link (models/csat.py) is the authorisation, for one ticket,
until it expires; pages shown and answers are limited per client address, answers to one
per ticket."""

from __future__ import annotations

import html
import time

from aiohttp import web

from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web import customer_page
from deskgate.gateway.web.client_address import client_address
from deskgate.models.csat import MAX_COMMENT, answer, verify
from deskgate.models.errors import DeskgateError, Forbidden
from deskgate.queue.csat import Surveys
from deskgate.queue.sessions import login_source

MAX_FORM_BYTES = 8 * 1024

TEXT = {
    "en": {"title": "How did we do?", "ask": "How satisfied are you with how we handled "
           "your request {ticket}?", "low": "1 = very unsatisfied", "high": "5 = very satisfied",
           "comment": "Anything you would like to tell us? (optional)", "send": "Send",
           "thanks": "Thank you! Your answer has been recorded.",
           "done": "This survey has already been answered. Thank you!",
           "missing": "There is no survey for this ticket.", "error": "Sorry:"},
    "zh": {"title": "服务满意度调查", "ask": "您对我们处理工单 {ticket} 的服务满意吗？",
           "low": "1 = 非常不满意", "high": "5 = 非常满意",
           "comment": "还有什么想告诉我们的吗？（选填）", "send": "提交",
           "thanks": "感谢您的评价，我们已收到！", "done": "此调查已经提交过了，谢谢！",
           "missing": "此工单没有满意度调查。", "error": "抱歉："},
}


def _page(lang: str, body: str, status: int = 200) -> web.Response:
    return customer_page.page(lang, TEXT[lang]["title"], body, status=status, style=(
        "label.s{display:inline-block;margin:.3rem .6rem .3rem 0}"
        "textarea{width:100%;height:6rem}"))


def _message(lang: str, text: str, status: int) -> web.Response:
    return _page(lang, f'<p id="result">{html.escape(text)}</p>', status)


async def _ticket(request: web.Request) -> tuple[Surveys, str]:
    surveys = Surveys(request.app[REDIS], request.app[KEYS])
    return surveys, verify(request.match_info["token"], await surveys.secret(), time.time())


async def page(request: web.Request) -> web.Response:
    lang = customer_page.language(request, TEXT)
    t = TEXT[lang]
    # the page costs a Redis read and an HMAC: a stranger guessing links gets a wait
    wait = await Surveys(request.app[REDIS], request.app[KEYS]).take_view(
        login_source(client_address(request)))
    if wait:
        return _message(lang, f"{t['error']} too many pages from your address; try again "
                              f"in {wait} s", 429)
    try:
        _, ticket = await _ticket(request)
    except Forbidden as exc:
        return _message(lang, f"{t['error']} {exc.message}", 403)
    scores = "".join(f'<label class="s"><input type="radio" name="score" value="{n}" '
                     f'required> {n}</label>' for n in range(1, 6))
    return _page(lang, (
        f"<p>{html.escape(t['ask'].format(ticket=ticket))}</p>"
        f'<form method="post" action="?lang={lang}"><p>{scores}</p>'
        f"<p><small>{html.escape(t['low'])} · {html.escape(t['high'])}</small></p>"
        f'<p><label>{html.escape(t["comment"])}<br><textarea name="comment" '
        f'maxlength="{MAX_COMMENT}"></textarea></label></p>'
        f'<p><button type="submit">{html.escape(t["send"])}</button></p></form>'))


async def submit(request: web.Request) -> web.Response:
    lang = customer_page.language(request, TEXT)
    t = TEXT[lang]
    surveys = Surveys(request.app[REDIS], request.app[KEYS])
    wait = await surveys.take_slot(login_source(client_address(request)))
    if wait:
        return _message(lang, f"{t['error']} too many answers from your address; try again "
                              f"in {wait} s", 429)
    if (request.content_length or 0) > MAX_FORM_BYTES:
        return _message(lang, f"{t['error']} the form is too large", 413)
    try:
        _, ticket = await _ticket(request)
        form = await request.post()
        given = answer(str(form.get("score", "")), str(form.get("comment", "")))
    except DeskgateError as exc:
        return _message(lang, f"{t['error']} {exc.message}", 403 if isinstance(exc, Forbidden)
                        else 400)
    outcome = await surveys.answer(ticket, given, time.time())
    status = {"ok": 200, "done": 409, "missing": 404}[outcome]
    return _message(lang, t["thanks" if outcome == "ok" else outcome], status)
