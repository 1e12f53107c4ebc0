"""The file side of sending a reply (connectors/send/base.py Files): the blob store's bytes, the
signed public link a provider fetches a file from (served by gateway/web/public_files.py), and
the reply's part-by-part progress in Redis."""

from __future__ import annotations

import asyncio
import time

from deskgate.connectors.send.base import Rejected
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.models.file_links import LINK_SECONDS, sign
from deskgate.models.outbound import OutboundMessage
from deskgate.queue.reply_parts import ReplyParts


class ReplyFiles:
    def __init__(self, blobs: BlobStore, parts: ReplyParts, public_url: str) -> None:
        self._blobs, self._parts = blobs, parts
        self._base = public_url.rstrip("/")

    async def read(self, ref: str) -> bytes:
        try:
            return await asyncio.to_thread(self._blobs.get, ref)
        except FileNotFoundError:
            raise Rejected(f"the file {ref[:80]} is no longer in the blob store") from None

    async def link(self, message: OutboundMessage, index: int) -> str:
        if not self._base:
            raise Rejected(f"{message.recipient.channel} fetches files from a public address: "
                           "set http.public_url to the gateway's public https:// URL")
        ref = message.attachments[index].ref
        token = sign(ref, message.reply_id, index, int(time.time()) + LINK_SECONDS,
                     await self._parts.link_secret())
        return f"{self._base}/files/{token}"

    async def progress(self, reply_id: str) -> dict[str, str]:
        return await self._parts.progress(reply_id)

    async def record(self, reply_id: str, part: str, value: str) -> None:
        await self._parts.record(reply_id, part, value)
