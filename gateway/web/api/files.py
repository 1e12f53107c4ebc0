"""Files an agent attaches to a reply: uploaded to one ticket, then named by their blob ref in
that ticket's replies.

A blob's name is only the SHA-256 of its bytes, so the ref alone proves nothing: a reply may
attach a file of its own ticket only — one uploaded here for it, or one the customer sent on it
(gateway/web/api/common.py `ticket_files`)."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from deskgate.gateway.appkeys import DATA_DIR, KEYS, REDIS
from deskgate.gateway.edge import read_chunks, streams_body
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import TICKET, target
from deskgate.models.delivery import MAX_UPLOAD_BYTES as MAX_FILE_BYTES
from deskgate.models.enums import Role
from deskgate.models.ticket import Ticket

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")


@requires(Role.AGENT, Role.MANAGER, policy=TICKET)
@streams_body
async def upload(request: web.Request) -> web.Response:
    """Upload one file (the raw request body; ?name= its file name) for this ticket's replies;
    the answer's `ref` goes into a reply's attachments."""
    ticket = target(request, Ticket)
    name = _UNSAFE.sub("_", request.query.get("name", "")).strip()[:200]
    if not name:
        raise ApiError(422, "?name= is required: the file name the customer will see",
                       field="name")
    if request.content_length is not None and request.content_length > MAX_FILE_BYTES:
        raise ApiError(413, f"files are limited to {MAX_FILE_BYTES >> 20} MiB")
    chunks, size = [], 0
    async for chunk in read_chunks(request):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise ApiError(413, f"files are limited to {MAX_FILE_BYTES >> 20} MiB")
        chunks.append(chunk)
    if size == 0:
        raise ApiError(422, "empty file")
    ref = await asyncio.to_thread(BlobStore(request.app[DATA_DIR]).put, b"".join(chunks))
    await request.app[REDIS].sadd(request.app[KEYS].ticket_files(ticket.id), ref)
    return web.json_response({"ref": ref, "name": name, "size": size,
                              "content_type": request.content_type}, status=201)
