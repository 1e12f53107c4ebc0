"""The one way any intake path (API, webhooks, SMTP, IMAP) hands messages to the ingest
stream: durable write first, then the caller acknowledges; Redis down means "retry later"."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from deskgate.gateway.appkeys import INGEST, METRICS
from deskgate.gateway.errors import as_deskgate_error
from deskgate.models.errors import Unavailable
from deskgate.models.message import InboundMessage
from deskgate.queue.ingest import Accepted, IngestUnavailable

log = logging.getLogger("deskgate.intake")
RETRY_AFTER_SECONDS = 5


async def accept_or_503(app: web.Application, message: InboundMessage) -> Accepted:
    try:
        return await app[INGEST].accept(message)
    except IngestUnavailable as exc:
        raise _unavailable(app, exc) from exc


async def accept_many_or_503(app: web.Application,
                             messages: Sequence[InboundMessage]) -> list[Accepted]:
    try:
        return await app[INGEST].accept_many(messages)
    except IngestUnavailable as exc:
        raise _unavailable(app, exc) from exc


def _unavailable(app: web.Application, exc: IngestUnavailable) -> Unavailable:
    app[METRICS].inc("deskgate_ingest_unavailable_total")
    log.warning("ingest unavailable, asking the sender to retry: %s", exc)
    busy = as_deskgate_error(exc.__cause__) if exc.__cause__ is not None else None
    # a full connection pool clears in moments; a Redis that failed may take longer
    return busy if isinstance(busy, Unavailable) and busy.retry_after < RETRY_AFTER_SECONDS \
        else Unavailable(retry_after=RETRY_AFTER_SECONDS)
