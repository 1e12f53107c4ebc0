"""Typed views of Redis replies, so that the type checker knows what a reply holds.

redis-py types each reply as what any client might return (bytes or str, depending on
`decode_responses`; optional where a key may be missing; Awaitable or not). Our clients never
decode (queue/connection.py), so a string reply is bytes and a hash is bytes -> bytes. These
helpers say so once, with a check, instead of a cast or a `type: ignore` at every call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.typing import EncodableT


def text(value: object) -> str:
    """A reply as text: bytes decoded as UTF-8, None as "", anything else as str()."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else str(value)


def as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else text(value).encode()


def hash_reply(value: Any) -> dict[bytes, bytes]:
    """An HGETALL reply (None or empty when the key is missing) as bytes -> bytes."""
    return {as_bytes(k): as_bytes(v) for k, v in (value or {}).items()}


def fields(mapping: Mapping[str, EncodableT]) -> dict[EncodableT, EncodableT]:
    """A field -> value mapping as HSET's `mapping=` is typed (its key type is invariant)."""
    return {k: v for k, v in mapping.items()}


# The helpers below take a reply as redis-py types it (effectively Any: see the module doc)
# and return it converted, element by element, to the type our clients actually receive.

def text_hash(value: Any) -> dict[str, str]:
    """An HGETALL reply as str -> str."""
    return {text(k): text(v) for k, v in (value or {}).items()}


def texts(value: Any) -> list[str]:
    """A list or set reply (SMEMBERS, LRANGE, ZRANGE without scores) as str, in reply order."""
    return [text(v) for v in value or ()]


def scored(value: Any) -> list[tuple[str, float]]:
    """A ZRANGE ... WITHSCORES reply as (member, score) pairs."""
    return [(text(m), float(s)) for m, s in value or ()]


def stream_entries(value: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """An XRANGE / XREVRANGE / XAUTOCLAIM entry list as (entry id, fields); a deleted entry
    (fields None) keeps an empty dict."""
    return [(text(eid), hash_reply(f)) for eid, f in value or ()]


def optional_bytes(value: object) -> bytes | None:
    """One field of an HMGET reply: None when the field is missing."""
    return None if value is None else as_bytes(value)


def group_entries(value: Any) -> list[tuple[str, dict[bytes, bytes]]]:
    """An XREADGROUP reply ([stream, entries] per stream read) as the entries of all streams."""
    return [entry for _, entries in value or () for entry in stream_entries(entries)]
