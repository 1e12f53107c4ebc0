"""Phone numbers as identities: E.164 so the same customer matches across channels."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=65536)  # parsing costs ~100 µs and the same customers write again and again
def normalize_phone(raw: str, default_region: str = "CN") -> str | None:
    """'+86 138-0013-8000', '13800138000', 'whatsapp:+8613800138000' -> '+8613800138000'."""
    text = raw.strip().removeprefix("whatsapp:").removeprefix("tel:")
    if not text or len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
