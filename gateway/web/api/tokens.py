"""API tokens over the REST API, for admins (the same operations as `deskgate token …`).
A token is shown once, in the answer to its creation; only its hash is stored. A revoked token
stops working at once in every gateway process (auth.py), and so do its console sessions."""

from __future__ import annotations

import msgspec
from aiohttp import web

from deskgate.gateway.appkeys import KEYS, REDIS
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.models.ids import AGENT_ID
from deskgate.queue.tokens import acreate_token, alist_tokens, arevoke_token


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Role
    agent_id: str = ""
    account: str = ""        # integrations: the one API account the token posts for
    label: str = ""


@requires(Role.ADMIN, policy=ADMIN)
async def list_tokens(request: web.Request) -> web.Response:
    """Every token's id, role, agent, account and label (never the token itself)."""
    tokens = await alist_tokens(request.app[REDIS], request.app[KEYS])
    return web.json_response({"tokens": [to_builtins(t) for t in tokens]})


@requires(Role.ADMIN, policy=ADMIN)
async def create(request: web.Request) -> web.Response:
    """Create a token; the answer is the only time the token is shown."""
    body = decode_body(await request.read(), TokenIn)
    if body.role is Role.AGENT and not body.agent_id:
        raise ApiError(422, "an agent token needs agent_id", field="agent_id")
    if body.agent_id:
        AGENT_ID.check(body.agent_id, "agent_id")
    if len(body.label) > 100 or not body.label.isprintable():
        raise ApiError(422, "label: at most 100 printable characters", field="label")
    token, info = await acreate_token(request.app[REDIS], request.app[KEYS], body.role,
                                      agent_id=body.agent_id, label=body.label,
                                      account=body.account)
    return web.json_response({"token": token, **to_builtins(info)}, status=201)


@requires(Role.ADMIN, policy=ADMIN)
async def revoke(request: web.Request) -> web.Response:
    """Revoke a token by its id (the 12 characters listings show)."""
    token_id = request.match_info["token_id"]
    if not await arevoke_token(request.app[REDIS], request.app[KEYS], token_id):
        raise ApiError(404, f"no token with id {token_id}")
    return web.json_response({"revoked": token_id})
