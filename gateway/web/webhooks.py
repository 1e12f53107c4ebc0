"""The one webhook route for every messaging channel: /webhooks/{channel}/{account}.

GET answers a provider's URL-verification handshake (WeChat echostr, Meta hub.challenge).
POST reads the body (bounded by http.max_body_bytes), lets the channel's connector verify and
parse it, checks a one-time nonce where the provider's signature needs one, writes the messages
durably, and only then gives the provider the answer it expects. Refusals: 404 for an unknown
channel or account, 401/403 for a missing/wrong signature (counted in
deskgate_webhook_rejected_total{channel,reason}), 400 with the reason for an unreadable body,
503 + Retry-After when Redis cannot take it (the provider's retry is our durability).
Accounts come from the config file and from admins through the API, hot-reloaded
(gateway/channel_accounts.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from deskgate.connectors.base import BadPayload, Unauthorized, WebhookRequest
from deskgate.gateway.appkeys import CONFIG, KEYS, METRICS, REDIS
from deskgate.gateway.channel_accounts import LiveAccounts
from deskgate.gateway.intake import RETRY_AFTER_SECONDS, accept_many_or_503
from deskgate.gateway.web.client_address import client_address
from deskgate.gateway.web.errors import ApiError, json_error
from deskgate.gateway.web.metrics import describe
from deskgate.gateway.workers.wecom_sync import WECOM_SYNC
from deskgate.models.errors import Unavailable
from deskgate.queue import replay
from deskgate.queue.ingest import IngestUnavailable

log = logging.getLogger("deskgate.webhooks")

REJECTED = "deskgate_webhook_rejected_total"
BAD_PAYLOAD = "deskgate_webhook_bad_payload_total"
ACCEPTED = "deskgate_messages_accepted_total"
describe(REJECTED, "webhook deliveries refused as unauthenticated, by channel and reason")
describe(BAD_PAYLOAD, "authenticated webhook deliveries refused as unreadable (400)")

ACCOUNTS = web.AppKey("webhook_accounts", LiveAccounts)


def _provider_request(request: web.Request, body: bytes) -> WebhookRequest:
    public = request.app[CONFIG].http.public_url
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), value)
    return WebhookRequest(
        method=request.method,
        url=public.rstrip("/") + request.path_qs if public else str(request.url),
        query={k: request.query.getone(k) for k in request.query.keys()},
        headers=headers, body=body, received_at=datetime.now(UTC))


async def handle(request: web.Request) -> web.StreamResponse:
    channel, account = request.match_info["channel"], request.match_info["account"]
    found = await request.app[ACCOUNTS].get(request.app[REDIS], request.app[KEYS], channel,
                                            account)
    if found is None:
        raise ApiError(404, f"no webhook account {channel}/{account} is configured")
    connector, settings = found
    body = await request.read() if request.method == "POST" else b""
    req = _provider_request(request, body)
    metrics = request.app[METRICS]
    try:
        if request.method == "GET":
            reply = connector.handshake(settings, req)
        else:
            delivery = connector.handle(account, settings, req)
            if delivery.nonce is not None:
                n = delivery.nonce
                try:
                    fresh = await replay.first_use(request.app[REDIS], request.app[KEYS],
                                                   channel, account, n.value, n.digest, n.ttl)
                except IngestUnavailable as exc:
                    raise Unavailable(retry_after=RETRY_AFTER_SECONDS) from exc
                if not fresh:
                    raise Unauthorized("replayed_nonce", "this nonce was already used")
            accepted = await accept_many_or_503(request.app, delivery.messages)
            for a in accepted:
                metrics.inc(ACCEPTED, channel=channel, duplicate=str(a.duplicate).lower())
            request.app[WECOM_SYNC].notice(request.app, channel, account, settings,
                                           delivery.messages)
            reply = delivery.reply
    except Unauthorized as exc:
        metrics.inc(REJECTED, channel=channel, reason=exc.reason)
        log.warning("webhook %s/%s refused (%s) from %s", channel, account, exc.reason,
                    client_address(request))
        return json_error(exc.status, exc.message)
    except BadPayload as exc:
        metrics.inc(BAD_PAYLOAD, channel=channel)
        return json_error(400, str(exc))
    charset = "utf-8" if reply.content_type.startswith("text/") else None
    return web.Response(status=reply.status, body=reply.body,
                        content_type=reply.content_type, charset=charset)


def setup(app: web.Application) -> None:
    """The accounts the webhook routes verify deliveries against."""
    app[ACCOUNTS] = LiveAccounts(app[CONFIG])
