"""The visitor side of web chat: what our widget (/webchat/widget.js, embedded by a site with one
<script> tag) calls from the visitor's browser, on the site's origin.

    POST /webchat/{account}/visitors                        anonymous visitor: a new token
    POST /webchat/{account}/visitor/messages                {client_id, text, name?, email?}
    GET  /webchat/{account}/visitor/replies?after=<cursor>  agents' replies to this visitor
    POST /webchat/{account}/visitor/replies/{reply_id}/read the visitor has seen it

Every call but the first carries `Authorization: Bearer <visitor token>` (connectors/webchat.py
visitor_token: the site backend signs its visitor's id and an expiry with the account secret,
or the gateway minted it for an anonymous visitor when the account allows those), which names
the one visitor whose messages it may post and whose replies it may read. Browsers may call
only from the account's `allowed_origins` (CORS answered for exactly those; any other Origin,
or none, is refused). A message goes through the same intake as the site-relayed ones and is
one message however often the widget retries it. Calls are limited per visitor, anonymous
tokens per client address (behind a proxy: per proxy, as every per-address limit here)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from deskgate.connectors.base import BadPayload, Unauthorized
from deskgate.connectors.webchat import WebSettings, verify_visitor, visitor_token, widget_message
from deskgate.gateway.appkeys import KEYS, METRICS, REDIS
from deskgate.gateway.edge import QuietLog
from deskgate.gateway.errors import as_deskgate_error
from deskgate.gateway.intake import accept_or_503
from deskgate.gateway.web.client_address import client_address
from deskgate.gateway.web.errors import ApiError, error_response, json_error
from deskgate.gateway.web.webchat_replies import (
    account_settings,
    json_answer,
    read,
    visitor_replies,
)
from deskgate.gateway.web.webhooks import ACCEPTED
from deskgate.models.errors import RateLimited
from deskgate.queue.sessions import login_source, take_slot

# one line per refused origin, bounded: a page calling in a loop cannot fill the log
REFUSED_LOG = QuietLog(logging.getLogger("deskgate.webchat"))

MAX_BODY_BYTES = 64 * 1024           # 4,000 characters even as JSON \u escapes (12 bytes an emoji)
ANONYMOUS_DAYS = 7                   # an anonymous visitor's token lives this long
MINTS_PER_WINDOW, MINT_WINDOW_SECONDS = 10, 600      # anonymous visitors per address
CALLS_PER_WINDOW, CALL_WINDOW_SECONDS = 120, 60      # widget calls per visitor (polls included)
SENDS_PER_WINDOW, SEND_WINDOW_SECONDS = 20, 60       # of which messages: a person types fewer
WIDGET_DIR = Path(__file__).parent / "static" / "webchat"
_CORS = {"Access-Control-Allow-Methods": "GET, POST",
         "Access-Control-Allow-Headers": "Authorization, Content-Type",
         "Access-Control-Max-Age": "600"}

Handler = Callable[[web.Request, WebSettings, str], Awaitable[web.Response]]


def widget_call(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Origin check and CORS around a widget endpoint; its errors are answered here, with the
    CORS headers, so that the widget can read what went wrong."""
    async def call(request: web.Request) -> web.Response:
        account = request.match_info["account"]
        settings = await account_settings(request)
        origin = request.headers.get("Origin", "")
        if origin not in settings.allowed_origins:
            REFUSED_LOG.log(logging.WARNING, "web chat %s: widget call from origin %r refused",
                            account, origin[:100])
            return json_error(403, "this site may not use the chat widget of this account: an "
                              "admin lists it in the account's allowed_origins")
        try:
            response = await handler(request, settings, account)
        except Unauthorized as exc:
            response = json_error(exc.status, exc.message)
        except BadPayload as exc:
            response = json_error(400, str(exc))
        except Exception as exc:
            error = as_deskgate_error(exc)
            if error is None:
                raise
            response = error_response(error)
        response.headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin"})
        return response
    return call


async def preflight(request: web.Request) -> web.Response:
    """The browser's CORS preflight: allowed for the account's origins only."""
    settings = await account_settings(request)
    origin = request.headers.get("Origin", "")
    if origin not in settings.allowed_origins:
        return json_error(403, "this site may not use the chat widget of this account")
    return web.Response(status=204, headers={**_CORS, "Access-Control-Allow-Origin": origin,
                                             "Vary": "Origin"})


async def _limit(request: web.Request, key: str, limit: int, window: int) -> None:
    wait = await take_slot(request.app[REDIS], key, limit, window)
    if wait:
        raise RateLimited(f"too many chat requests; try again in {wait} s", retry_after=wait)


async def _visitor(request: web.Request, settings: WebSettings, account: str) -> str:
    """The visitor the bearer token proves, after counting this call against their limit."""
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    visitor = verify_visitor(settings, account, token, time.time())
    await _limit(request, request.app[KEYS].visitor_calls(account, visitor), CALLS_PER_WINDOW,
                 CALL_WINDOW_SECONDS)
    return visitor


async def _mint(request: web.Request, settings: WebSettings, account: str) -> web.Response:
    if not settings.anonymous_visitors:
        raise ApiError(403, "this account chats only with visitors its site signed in: the "
                            "site backend gives the widget a visitor token")
    source = login_source(client_address(request))
    await _limit(request, request.app[KEYS].visitor_mints(account, source), MINTS_PER_WINDOW,
                 MINT_WINDOW_SECONDS)
    visitor = "anon-" + secrets.token_urlsafe(16)
    expires = int(time.time()) + ANONYMOUS_DAYS * 86400
    return json_answer({"visitor": visitor, "expires_at": expires,
                        "token": visitor_token(settings.secret, account, visitor, expires)},
                       status=201)


async def _post(request: web.Request, settings: WebSettings, account: str) -> web.Response:
    visitor = await _visitor(request, settings, account)
    await _limit(request, request.app[KEYS].visitor_sends(account, visitor), SENDS_PER_WINDOW,
                 SEND_WINDOW_SECONDS)
    body = await request.read()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"a chat message body is at most {MAX_BODY_BYTES} bytes")
    message = widget_message(account, settings, visitor, body, datetime.now(UTC))
    accepted = await accept_or_503(request.app, message)
    request.app[METRICS].inc(ACCEPTED, channel="webchat",
                             duplicate=str(accepted.duplicate).lower())
    return json_answer({"id": accepted.message_id, "duplicate": accepted.duplicate},
                       status=200 if accepted.duplicate else 202)


async def _poll(request: web.Request, settings: WebSettings, account: str) -> web.Response:
    visitor = await _visitor(request, settings, account)
    try:
        after = float(request.query.get("after", "0") or 0)
    except ValueError:
        raise ApiError(400, "after: the cursor the previous answer gave (a number)") from None
    return json_answer(await visitor_replies(request, account, visitor, after))


async def _read(request: web.Request, settings: WebSettings, account: str) -> web.Response:
    visitor = await _visitor(request, settings, account)
    return await read(request, account, request.match_info["reply_id"], visitor)


async def widget_file(request: web.Request) -> web.FileResponse:
    """widget.js and widget.css: public, cached briefly (a new version spreads within minutes)."""
    return web.FileResponse(WIDGET_DIR / request.match_info["name"],
                            headers={"Cache-Control": "public, max-age=300"})


mint = widget_call(_mint)
post_message = widget_call(_post)
poll = widget_call(_poll)
mark_read = widget_call(_read)
