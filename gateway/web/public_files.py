"""GET /files/{token}: one file of one reply, for the providers that fetch media from a URL
(LINE, Twilio). No login: the signed, expiring link (models/file_links.py) is the
authorisation, for that file of that reply only.

The file goes with the content type the reply recorded (only when it reads as type/subtype)
as a download (Content-Disposition: attachment), never sniffed or rendered by a browser that
opens the link (nosniff, a sandboxing CSP)."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

from aiohttp import web

from deskgate.gateway.appkeys import DATA_DIR, KEYS, REDIS
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.models.errors import Forbidden
from deskgate.models.file_links import parse, verify
from deskgate.queue.outbox import Outbox
from deskgate.queue.reply_parts import ReplyParts

_CTYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._ -]")


def _text(status: int, why: str) -> web.Response:
    return web.Response(status=status, text=why + "\n",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def disposition(name: str) -> str:
    """attachment with an ASCII fallback name and the real one in RFC 5987 form."""
    fallback = _ASCII_NAME.sub("_", name)[:100] or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def serve(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    try:
        reply_id, index, _, _ = parse(token)
    except Forbidden as exc:
        return _text(403, exc.message)
    found = await Outbox(request.app[REDIS], request.app[KEYS]).get(reply_id)
    if found is None or index >= len(found.message.attachments):
        return _text(404, "no such file")
    a = found.message.attachments[index]
    try:
        verify(token, a.ref, await ReplyParts(request.app[REDIS], request.app[KEYS]).link_secret(),
               time.time())
    except Forbidden as exc:
        return _text(403, exc.message)
    path = BlobStore(request.app[DATA_DIR]).path(a.ref)
    if not path.exists():
        return _text(404, "this file is no longer stored")
    ctype = a.content_type.split(";", 1)[0].strip().lower()
    return web.FileResponse(path, headers={
        "Content-Type": ctype if _CTYPE.match(ctype) else "application/octet-stream",
        "Content-Disposition": disposition(a.name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer"})
