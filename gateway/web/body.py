"""The one decoder of API request bodies. Every failure is a kind of the error tree: over the
size limit → TooLarge (413); unreadable, including nested too deep for the decoder (a
RecursionError otherwise, a 500) → Malformed (400); the wrong shape → Invalid (422) naming
the field. JSON for every route; the admin's routing table and SLA document may also be YAML,
without aliases (an alias repeats a whole subtree for the cost of its name, so a small document
could unfold into far more values than its size bounds for the validation that follows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import yaml

from deskgate.gateway.errors import raise_validation
from deskgate.models.errors import Invalid, Malformed, TooLarge

T = TypeVar("T")

_MALFORMED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def decode_body(raw: bytes, type_: type[T], *, what: str = "the body",
                max_bytes: int | None = None) -> T:
    """A JSON body as `type_`; an empty body is `{}` (every field at its default)."""
    _check_size(raw, what, max_bytes)
    try:
        return msgspec.json.decode(raw or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise_validation(exc)
    except _MALFORMED as exc:
        raise Malformed(f"malformed JSON: {_reason(exc)}") from exc


def decode_document(raw: bytes, type_: type[T], *, what: str, max_bytes: int,
                    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> T:
    """A whole JSON or YAML document (an object) as `type_`; `prepare(obj)` may adjust the
    parsed object before it is validated."""
    _check_size(raw, what, max_bytes)
    try:
        obj = yaml.load(raw, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except (yaml.YAMLError, *_MALFORMED) as exc:
        raise Malformed(f"{what} is not valid JSON or YAML: {_reason(exc)}") from exc
    if not isinstance(obj, dict):
        raise Invalid(f"{what} is a JSON or YAML object of field: value")
    try:
        return msgspec.convert(prepare(obj) if prepare else obj, type=type_)
    except msgspec.ValidationError as exc:
        raise_validation(exc)
    except RecursionError as exc:
        raise Malformed(f"{what} is nested too deep") from exc


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted: write the value out",
                event.start_mark)
        return super().compose_node(parent, index)


def _check_size(raw: bytes, what: str, max_bytes: int | None) -> None:
    if max_bytes is not None and len(raw) > max_bytes:
        raise TooLarge(f"{what} is at most {max_bytes} bytes")


def _reason(exc: BaseException) -> str:
    return "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:300]
