"""Auto-answers over the REST API (admins only): per account and topic, the lookup webhook
(URL, write-only HMAC secret, timeout, which entities it receives), the gates and the zh + en
answer templates (models/auto_answer.py, docs/auto-answer.md); and a "test this lookup" call
that sends the stored configuration's signed request with entities the admin types, showing
what came back, whether the gates pass and the answer it would give. Changes are live on every
worker within a second."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import aiohttp
import msgspec
from aiohttp import web

from deskgate.gateway import lookup
from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN, scope
from deskgate.models.auto_answer import (
    ENTITY_LABELS,
    MAX_TIMEOUT_S,
    LookupConfig,
    LookupRequest,
    answer_gate,
    answer_text,
    config_id,
)
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.models.macros import VARIABLES
from deskgate.queue.auto_answers import AutoAnswerStore

log = logging.getLogger("deskgate.auto_answer")
MAX_BODY_BYTES = 32 * 1024
_Value = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class TestIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the test call sends in place of what triage would have found."""

    entities: dict[str, Annotated[list[_Value], msgspec.Meta(min_length=1, max_length=5)]]
    language: str = "zh"
    channel: str = "api"
    sender: dict[Literal["email", "phone"],
                 Annotated[list[_Value], msgspec.Meta(max_length=5)]] = {}


def _store(request: web.Request) -> AutoAnswerStore:
    return AutoAnswerStore(request.app[REDIS], request.app[KEYS])


def _id(request: web.Request) -> str:
    try:
        return config_id(request.match_info["account"], request.match_info["topic"])
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


def _view(cid: str, config: LookupConfig) -> dict[str, Any]:
    """The configuration as the API shows it: never the secret, only whether one is set."""
    out = to_builtins(config)
    out.pop("secret", None)
    account, _, topic = cid.partition("/")
    return {"id": cid, "account": account, "topic": topic, **out,
            "secret_set": bool(config.secret)}


async def _stored(request: web.Request, cid: str) -> LookupConfig:
    found = await _store(request).get(cid)
    if found is None:
        raise ApiError(404, f"no auto-answer {cid!r}: create it with PUT first")
    return found


@requires(Role.ADMIN, policy=ADMIN)
async def list_auto_answers(request: web.Request) -> web.Response:
    """Every auto-answer (secrets never shown), the variables and entities they may use."""
    return web.json_response({
        "auto_answers": [_view(k, c) for k, c in (await _store(request).all()).items()],
        "variables": VARIABLES, "entities": list(ENTITY_LABELS),
        "max_timeout_s": MAX_TIMEOUT_S})


@requires(Role.ADMIN, policy=ADMIN)
async def get_auto_answer(request: web.Request) -> web.Response:
    """One auto-answer (its secret never shown)."""
    cid = _id(request)
    return web.json_response(_view(cid, await _stored(request, cid)))


@requires(Role.ADMIN, policy=ADMIN)
async def put_auto_answer(request: web.Request) -> web.Response:
    """Create or replace an auto-answer: url, secret (write-only: leave it out to keep the
    stored one), timeout_s, entities, gates, zh and en templates, enabled."""
    cid = _id(request)
    config = decode_body(await request.read(), LookupConfig, what="the auto-answer",
                         max_bytes=MAX_BODY_BYTES)
    store = _store(request)
    if not config.secret and await store.get(cid) is None:
        raise ApiError(422, "secret: the lookup checks our HMAC with it; give one of at least "
                            "16 characters", field="secret")
    if not await store.put(cid, config):
        raise ApiError(409, "too many auto-answers: delete some first")
    log.info("auto-answer %s saved by %s", cid, scope(request).actor)
    return web.json_response(_view(cid, await _stored(request, cid)))


@requires(Role.ADMIN, policy=ADMIN)
async def delete_auto_answer(request: web.Request) -> web.Response:
    """Delete an auto-answer (its topic goes to agents only from the next second on)."""
    cid = _id(request)
    if not await _store(request).delete(cid):
        raise ApiError(404, f"no auto-answer {cid!r}")
    log.info("auto-answer %s deleted by %s", cid, scope(request).actor)
    return web.json_response({"deleted": cid})


@requires(Role.ADMIN, policy=ADMIN)
async def test_auto_answer(request: web.Request) -> web.Response:
    """Call the stored lookup with the entities given: what it answered, whether the gates
    pass, and the answer a customer would get (nothing is sent to anyone)."""
    cid = _id(request)
    config = await _stored(request, cid)
    body = decode_body(await request.read(), TestIn, what="the test", max_bytes=4096)
    unknown = sorted(set(body.entities) - set(ENTITY_LABELS))
    if unknown or not body.entities:
        raise ApiError(422, "entities: an object of " + ", ".join(ENTITY_LABELS)
                       + " -> list of values", field="entities")
    account, _, topic = cid.partition("/")
    async with aiohttp.ClientSession() as session:
        found = await lookup.call(session, config, LookupRequest(
            ticket="DG-0", topic=topic, account=account, channel=body.channel[:20],
            language=body.language[:8], entities=body.entities, sender=body.sender))
    out: dict[str, Any] = {"id": cid, "ok": found.fields is not None, "lookup_ms": found.ms,
                           "reason": found.reason, "fields": found.fields}
    if found.fields is not None:
        gate = answer_gate(config, found.fields)
        out["gate"] = gate
        if not gate:
            values = {**{v: f"{{{v}}}" for v in VARIABLES}, "ticket": "DG-0"}
            out["answer"] = answer_text(config, body.language, values, found.fields)
    return web.json_response(out)
