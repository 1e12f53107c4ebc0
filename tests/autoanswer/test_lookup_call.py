"""gateway/lookup.call against a lookup over real loopback HTTP that sends its answer in parts,
as any server streaming a chunked body (or a body larger than one socket read) does: the
answer is read whole up to the 64 KB bound, and a part-by-part answer past it is refused as
too large, never cut to its first part and taken for "not JSON"."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

from deskgate.gateway import lookup
from deskgate.models.auto_answer import MAX_RESPONSE_BYTES, LookupConfig, LookupRequest

REQUEST = LookupRequest(ticket="DG-1", topic="order_status", account="waba",
                        channel="whatsapp", language="zh",
                        entities={"ORDER_ID": ["DD20261118004521"]}, sender={})
FIELDS = {"status": "shipped", "eta": "2026-12-05", "carrier": "SF Express",
          "history": "已揽收 " * 400}


def _parts_app(body: bytes, parts: int) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        step = -(-len(body) // parts)
        for i in range(0, len(body), step):
            await resp.write(body[i:i + step])
            await asyncio.sleep(0.05)      # each part its own read on the gateway's side
        await resp.write_eof()
        return resp
    app = web.Application()
    app.router.add_post("/lookup", handle)
    return app


async def _call(aiohttp_server: Any, body: bytes, parts: int) -> lookup.LookupResult:
    server = await aiohttp_server(_parts_app(body, parts))
    config = LookupConfig(url=str(server.make_url("/lookup")), secret="s" * 16, timeout_s=5,
                          zh="{order_number}")
    async with aiohttp.ClientSession() as session:
        return await lookup.call(session, config, REQUEST)


async def test_an_answer_sent_in_parts_is_read_whole(aiohttp_server: Any) -> None:
    found = await _call(aiohttp_server, json.dumps(FIELDS, ensure_ascii=False).encode(), 3)
    assert found.reason == ""
    assert found.fields == FIELDS


async def test_an_answer_in_parts_past_the_bound_is_refused_as_too_large(
        aiohttp_server: Any) -> None:
    big = json.dumps({"status": "shipped", "pad": "x" * MAX_RESPONSE_BYTES}).encode()
    found = await _call(aiohttp_server, big, 4)
    assert found.fields is None
    assert "over 64 KB" in found.reason
