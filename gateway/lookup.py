"""The call to a business's lookup webhook (models/auto_answer.py says what is sent and what
counts as an answer): a signed POST to the configured URL only (never one from a payload),
within the configuration's timeout, no redirects followed, at most 64 KB read back (the
whole answer, however many parts it arrives in)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import msgspec

from deskgate.models.auto_answer import (
    MAX_RESPONSE_BYTES,
    LookupConfig,
    LookupFailed,
    LookupRequest,
    parse_response,
)
from deskgate.models.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


class LookupResult(msgspec.Struct, frozen=True):
    fields: dict[str, Any] | None       # None: failed, `reason` says why
    reason: str
    ms: int


async def call(session: aiohttp.ClientSession, config: LookupConfig,
               request: LookupRequest) -> LookupResult:
    body = msgspec.json.encode(request)
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
               SIGNATURE_HEADER: sign(config.secret, stamp, body),
               "User-Agent": "Deskgate-Lookup/1"}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(config.timeout_s):
            async with session.post(config.url, data=body, headers=headers,
                                    allow_redirects=False) as resp:
                fields = parse_response(resp.status, await _read_bounded(resp))
        return LookupResult(fields, "", _ms(started))
    except TimeoutError:
        return LookupResult(None, f"the lookup did not answer within {config.timeout_s:g} s",
                            _ms(started))
    except LookupFailed as exc:
        return LookupResult(None, str(exc), _ms(started))
    except aiohttp.ClientError as exc:
        return LookupResult(None, f"the lookup could not be reached ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})", _ms(started))


async def _read_bounded(resp: aiohttp.ClientResponse) -> bytes:
    """The body up to one byte past the bound (parse_response refuses that). One read() is
    not enough: it returns what has arrived so far, the first part of a chunked answer."""
    raw = bytearray()
    async for chunk in resp.content.iter_any():
        raw += chunk
        if len(raw) > MAX_RESPONSE_BYTES:
            break
    return bytes(raw[:MAX_RESPONSE_BYTES + 1])


def _ms(started: float) -> int:
    return max(1, round((time.perf_counter() - started) * 1000))
