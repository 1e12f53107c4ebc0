"""The one serialization of domain values, to and from Redis and JSON."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode(data: bytes | str, type_: type[T]) -> T:
    """Decode and validate; raises msgspec.ValidationError naming the offending field."""
    return msgspec.json.decode(data, type=type_)


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def convert(obj: Any, type_: type[T]) -> T:
    """Validate already-parsed JSON (dict/list) into a domain type."""
    return msgspec.convert(obj, type=type_)
