"""API tokens: only a SHA-256 of each token is stored, with its role and (for agents) agent id."""

from __future__ import annotations

import hashlib
import secrets
import time

import msgspec
import redis
import redis.asyncio as aioredis

from deskgate.models.enums import Role
from deskgate.queue.keys import Keys

TOKEN_PREFIX = "dgt_"


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str            # first 12 hex chars of the hash: safe to log and to show
    role: Role
    agent_id: str = ""
    label: str = ""
    created_at: float = 0.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(client: redis.Redis, keys: Keys, role: Role, *, agent_id: str = "",
                 label: str = "") -> tuple[str, TokenInfo]:
    """Returns the token (shown once, never stored) and what is stored about it."""
    if role is Role.AGENT and not agent_id:
        raise ValueError("an agent token needs --agent-id")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = token_hash(token)
    info = TokenInfo(token_id=digest[:12], role=role, agent_id=agent_id, label=label,
                     created_at=time.time())
    client.hset(keys.token(digest), mapping={"role": role.value, "agent_id": agent_id,
                                             "label": label, "created_at": info.created_at})
    client.sadd(keys.token_ids, digest)
    return token, info


async def lookup_token(client: aioredis.Redis, keys: Keys, token: str) -> TokenInfo | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_hash(token)
    fields = await client.hgetall(keys.token(digest))
    if not fields:
        return None
    f = {k.decode(): v.decode() for k, v in fields.items()}
    return TokenInfo(token_id=digest[:12], role=Role(f["role"]), agent_id=f.get("agent_id", ""),
                     label=f.get("label", ""), created_at=float(f.get("created_at", 0)))


def list_tokens(client: redis.Redis, keys: Keys) -> list[TokenInfo]:
    out = []
    for digest in sorted(client.smembers(keys.token_ids)):
        d = digest.decode()
        f = {k.decode(): v.decode() for k, v in client.hgetall(keys.token(d)).items()}
        if f:
            out.append(TokenInfo(token_id=d[:12], role=Role(f["role"]), agent_id=f["agent_id"],
                                 label=f["label"], created_at=float(f["created_at"])))
    return out


def revoke_token(client: redis.Redis, keys: Keys, token_id: str) -> bool:
    """Revoke by the 12-character id that `token list` shows."""
    for digest in client.smembers(keys.token_ids):
        d = digest.decode()
        if d.startswith(token_id) and len(token_id) >= 8:
            client.delete(keys.token(d))
            client.srem(keys.token_ids, d)
            return True
    return False
