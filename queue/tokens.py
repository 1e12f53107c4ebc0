"""API tokens: only a SHA-256 of each token is stored, with its role, (for agents) agent id
and (for integrations, optionally) the API account it posts for."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

import msgspec
import redis
import redis.asyncio as aioredis

from deskgate.models.enums import Role
from deskgate.models.errors import Invalid
from deskgate.models.ids import ACCOUNT
from deskgate.queue.keys import Keys
from deskgate.queue.replies import fields, hash_reply, texts
from deskgate.queue.scripts import lua

TOKEN_PREFIX = "dgt_"
TOKEN_BYTES = 32
# every token ever minted: the prefix and token_urlsafe(TOKEN_BYTES), 43 base64url characters
_TOKEN_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")
TOKEN_LENGTH = len(TOKEN_PREFIX) + 43


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str            # first 12 hex chars of the hash: safe to log and to show
    role: Role
    agent_id: str = ""
    # integrations: the one API account this token posts for ("" = the account each message
    # names, for tokens made before accounts were bound); it scopes external ids, thread keys
    # and sender ids, so two bound integrations never share them
    account: str = ""
    label: str = ""
    created_at: float = 0.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(client: redis.Redis, keys: Keys, role: Role, *, agent_id: str = "",
                 label: str = "", account: str = "") -> tuple[str, TokenInfo]:
    """Returns the token (shown once, never stored) and what is stored about it."""
    token, digest, info = _mint(role, agent_id, label, account)
    client.hset(keys.token(digest), mapping=fields(_fields(info)))
    client.sadd(keys.token_ids, digest)
    return token, info


def _mint(role: Role, agent_id: str, label: str, account: str) -> tuple[str, str, TokenInfo]:
    if role is Role.AGENT and not agent_id:
        raise ValueError("an agent token needs --agent-id")
    if account:
        if role is not Role.INTEGRATION:
            raise Invalid("only an integration token is bound to an account: drop --account "
                          "or use --role integration", field="account")
        ACCOUNT.check(account, "account")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    digest = token_hash(token)
    return token, digest, TokenInfo(token_id=digest[:12], role=role, agent_id=agent_id,
                                    account=account, label=label, created_at=time.time())


def _fields(info: TokenInfo) -> dict[str, str | float]:
    return {"role": info.role.value, "agent_id": info.agent_id, "account": info.account,
            "label": info.label, "created_at": info.created_at}


def token_info_from_hash(digest: str, fields: dict[bytes, bytes]) -> TokenInfo:
    f = {k.decode(): v.decode() for k, v in fields.items()}
    return TokenInfo(token_id=digest[:12], role=Role(f["role"]), agent_id=f.get("agent_id", ""),
                     account=f.get("account", ""), label=f.get("label", ""),
                     created_at=float(f.get("created_at", 0)))


def well_formed(token: str) -> bool:
    """Could this be a token we minted? Anything else is refused before it is hashed, looked
    up or cached."""
    return len(token) == TOKEN_LENGTH and _TOKEN_SHAPE.fullmatch(token) is not None


async def lookup_token(client: aioredis.Redis, keys: Keys, token: str) -> TokenInfo | None:
    if not well_formed(token):
        return None
    digest = token_hash(token)
    fields = await client.hgetall(keys.token(digest))
    return token_info_from_hash(digest, hash_reply(fields)) if fields else None


def list_tokens(client: redis.Redis, keys: Keys) -> list[TokenInfo]:
    out = []
    for d in sorted(texts(client.smembers(keys.token_ids))):
        if f := client.hgetall(keys.token(d)):
            out.append(token_info_from_hash(d, hash_reply(f)))
    return out


def _revoke(keys: Keys, digest: str) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of lua/revoke_token.lua: delete the token and tell every gateway at once
    (they drop it from their caches)."""
    return [keys.token(digest), keys.token_ids, keys.token_revocations], [digest]


def revoke_token(client: redis.Redis, keys: Keys, token_id: str) -> bool:
    """Revoke by the 12-character id that `token list` shows."""
    for d in texts(client.smembers(keys.token_ids)):
        if d.startswith(token_id) and len(token_id) >= 8:
            script_keys, args = _revoke(keys, d)
            client.register_script(lua("revoke_token"))(keys=script_keys, args=args)
            return True
    return False


# The same operations for the admin API, on the gateway's asyncio client.

async def acreate_token(client: aioredis.Redis, keys: Keys, role: Role, *, agent_id: str = "",
                        label: str = "", account: str = "") -> tuple[str, TokenInfo]:
    token, digest, info = _mint(role, agent_id, label, account)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(keys.token(digest), mapping=fields(_fields(info)))
        pipe.sadd(keys.token_ids, digest)
        await pipe.execute()
    return token, info


async def alist_tokens(client: aioredis.Redis, keys: Keys) -> list[TokenInfo]:
    digests = sorted(texts(await client.smembers(keys.token_ids)))
    async with client.pipeline(transaction=False) as pipe:
        for d in digests:
            pipe.hgetall(keys.token(d))
        rows = await pipe.execute()
    return [token_info_from_hash(d, f) for d, f in zip(digests, rows, strict=True) if f]


async def arevoke_token(client: aioredis.Redis, keys: Keys, token_id: str) -> bool:
    """Revoke by the 12-character id that listings show (at least 8 characters of it)."""
    if len(token_id) < 8:
        return False
    for d in texts(await client.smembers(keys.token_ids)):
        if d.startswith(token_id):
            script_keys, args = _revoke(keys, d)
            await client.register_script(lua("revoke_token"))(keys=script_keys, args=args)
            return True
    return False
