"""Agents' replies back to web-chat visitors. The customer's site backend (which relays the
visitor's messages to /webhooks/webchat/{account}, signed) polls

    GET /webchat/{account}/replies?visitor=<visitor id>&after=<cursor>

signed the same way (connectors/webchat.py verify_fetch), and hands the replies to its widget.
(Our own widget polls for its visitor directly: gateway/web/webchat_visitor.py, the same read.)
A reply fetched here is "delivered"; the site may confirm it was shown with
POST /webchat/{account}/replies/{reply_id}/read (same signature over "GET"-less request line:
sign(secret, ts, b"POST <path>")). The cursor is the created time of the newest reply
returned; pass it back to get only newer ones."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from aiohttp import web

from deskgate.connectors.base import BadPayload, Unauthorized, check_equal, check_fresh
from deskgate.connectors.webchat import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebSettings,
    sign,
    verify_fetch,
    visitor_identity,
)
from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web.errors import ApiError, json_error
from deskgate.gateway.web.webhooks import ACCOUNTS
from deskgate.models.enums import Channel
from deskgate.models.outbound import DeliveryState, Recipient
from deskgate.queue.outbox import Outbox


async def account_settings(request: web.Request) -> WebSettings:
    """The settings of the web-chat account the path names (404 when there is none)."""
    account = request.match_info["account"]
    found = await request.app[ACCOUNTS].get(request.app[REDIS], request.app[KEYS], "webchat",
                                            account)
    if found is None or not isinstance(found[1], WebSettings):
        raise ApiError(404, f"no web-chat account {account!r} is configured")
    return found[1]


async def visitor_replies(request: web.Request, account: str, visitor_id: str,
                          after: float) -> dict[str, Any]:
    """The replies to one visitor newer than the cursor `after`, each now "delivered", and
    the cursor to pass next time."""
    box = Outbox(request.app[REDIS], request.app[KEYS])
    ident = visitor_identity(account, visitor_id)
    replies = await box.for_address(ident.key, Recipient(Channel.WEBCHAT, account, visitor_id),
                                    after)
    now = time.time()
    for r in replies:
        await box.advance(Channel.WEBCHAT, account, r.message.reply_id,
                          DeliveryState.DELIVERED, now)
    out: list[dict[str, Any]] = [
        {"id": r.message.reply_id, "text": r.message.text, "created_at": r.message.created_at,
         "attachments": [{"name": a.name, "content_type": a.content_type, "size": a.size}
                         for a in r.message.attachments]} for r in replies]
    cursor = replies[-1].message.created_at.timestamp() if replies else after
    return {"replies": out, "cursor": cursor}


def json_answer(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status,
                             dumps=lambda o: msgspec.json.encode(o).decode())


async def read(request: web.Request, account: str, reply_id: str,
               visitor_id: str | None = None) -> web.Response:
    """Mark a reply read (shown to the visitor); with `visitor_id`, only a reply to them."""
    box = Outbox(request.app[REDIS], request.app[KEYS])
    if visitor_id is not None:
        found = await box.get(reply_id)
        if found is None or found.message.recipient != Recipient(Channel.WEBCHAT, account,
                                                                 visitor_id):
            raise ApiError(404, "no such reply for this visitor")
    state = await box.advance(Channel.WEBCHAT, account, reply_id, DeliveryState.READ,
                              time.time())
    if not state:
        raise ApiError(404, "no such reply for this account")
    return web.json_response({"id": reply_id, "state": state})


async def fetch(request: web.Request) -> web.Response:
    settings = await account_settings(request)
    account = request.match_info["account"]
    try:
        verify_fetch(settings, request.headers.get(TIMESTAMP_HEADER, ""),
                     request.headers.get(SIGNATURE_HEADER, ""), request.path_qs)
        visitor = request.query.get("visitor", "")
        visitor_identity(account, visitor)
        after = float(request.query.get("after", "0") or 0)
    except Unauthorized as exc:
        return json_error(exc.status, exc.message)
    except (BadPayload, ValueError) as exc:
        return json_error(400, f"visitor and after (a number) are required: {exc}")
    return json_answer(await visitor_replies(request, account, visitor, after))


async def mark_read(request: web.Request) -> web.Response:
    settings = await account_settings(request)
    account, reply_id = request.match_info["account"], request.match_info["reply_id"]
    try:
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        check_fresh(timestamp, settings.max_skew)
        check_equal(sign(settings.secret, timestamp, f"POST {request.path}".encode()),
                    request.headers.get(SIGNATURE_HEADER, ""))
    except Unauthorized as exc:
        return json_error(exc.status, exc.message)
    return await read(request, account, reply_id)
