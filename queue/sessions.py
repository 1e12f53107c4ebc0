"""Console sessions: a browser exchanges an API token for a session cookie once, so the token
itself never sits in the page's storage where injected script could read it.

Only a SHA-256 of the session id is stored (a copy of Redis cannot be replayed as a cookie).
The session points at the token's hash, not a copy of its role: revoking the token ends every
session made from it. Sessions expire after IDLE_SECONDS without use and ABSOLUTE_SECONDS after
login whatever happens.

Sign-in attempts are counted per client address (an IPv6 address by its /64) in Redis, so
the limit holds across gateway processes: LOGIN_FAILURES_MAX failed attempts per
LOGIN_WINDOW_SECONDS. Each attempt takes a slot atomically before the token is checked and a
successful one gives it back, so concurrent guesses cannot slip past the limit while an
office behind one address signs in freely."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time

import msgspec
import redis.asyncio as aioredis

from deskgate.queue.keys import Keys
from deskgate.queue.replies import hash_reply
from deskgate.queue.tokens import TokenInfo, token_hash, token_info_from_hash

IDLE_SECONDS = 8 * 3600
ABSOLUTE_SECONDS = 24 * 3600
LOGIN_FAILURES_MAX = 10
LOGIN_WINDOW_SECONDS = 600


class Session(msgspec.Struct, frozen=True, kw_only=True):
    principal: TokenInfo
    csrf: str             # sent back by the page in X-CSRF-Token on every state change
    created_at: float

    def csrf_ok(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), presented.encode())


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create_session(client: aioredis.Redis, keys: Keys, token: str,
                         info: TokenInfo) -> tuple[str, Session]:
    """A session for `token` (looked up as `info`, its role already accepted by the caller):
    (session id for the cookie, the session)."""
    session_id = secrets.token_urlsafe(32)
    session = Session(principal=info, csrf=secrets.token_urlsafe(32), created_at=time.time())
    key = keys.session(_digest(session_id))
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={"token": token_hash(token),
                                "csrf": session.csrf, "created_at": session.created_at})
        pipe.expire(key, IDLE_SECONDS)
        await pipe.execute()
    return session_id, session


async def load_session(client: aioredis.Redis, keys: Keys, session_id: str) -> Session | None:
    """The live session for a cookie value, its idle timer restarted; None when it is unknown,
    expired, or its token was revoked."""
    if not 20 <= len(session_id) <= 100:
        return None
    key = keys.session(_digest(session_id))
    async with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(key)
        pipe.expire(key, IDLE_SECONDS)      # no-op for a missing key (XX needs Redis 7)
        fields, _ = await pipe.execute()
    if not fields:
        return None
    f = {k.decode(): v.decode() for k, v in fields.items()}
    created = float(f["created_at"])
    if time.time() - created > ABSOLUTE_SECONDS:
        await client.delete(key)
        return None
    token_fields = await client.hgetall(keys.token(f["token"]))
    if not token_fields:
        return None
    return Session(principal=token_info_from_hash(f["token"], hash_reply(token_fields)), csrf=f["csrf"],
                   created_at=created)


async def end_session(client: aioredis.Redis, keys: Keys, session_id: str) -> None:
    await client.delete(keys.session(_digest(session_id)))


def login_source(address: str) -> str:
    """The unit the sign-in limit counts: the address, or an IPv6 address's /64 (one host
    usually has a whole /64 to pick from)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


async def take_login_attempt(client: aioredis.Redis, keys: Keys, source: str) -> int:
    """Counts one sign-in attempt from `source`: 0 when it may go ahead, else the seconds
    until it may try again."""
    return await take_slot(client, keys.login_attempts(source), LOGIN_FAILURES_MAX,
                           LOGIN_WINDOW_SECONDS)


async def take_slot(client: aioredis.Redis, key: str, limit: int, window: int) -> int:
    """Counts one attempt in a fixed window kept at `key`: 0 when it may go ahead (at most
    `limit` per window), else the seconds until the window ends."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
    return max(1, int(ttl)) if int(count) > limit else 0


async def give_back_login_attempt(client: aioredis.Redis, keys: Keys, source: str) -> None:
    """A successful sign-in does not count against its address."""
    await client.decr(keys.login_attempts(source))
