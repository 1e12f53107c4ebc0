"""Phone identities: one E.164 form per mobile, whichever channel reports it."""

from __future__ import annotations

import pytest

from deskgate.models.phone import normalize_phone


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("whatsapp:+5215512345678", "CN", "+525512345678"),   # MX WhatsApp id (52 1 + 10 digits)
    ("+52 55 1234 5678", "CN", "+525512345678"),          # MX as the carrier shows it
    ("(55) 1234 5678", "MX", "+525512345678"),
    ("+5491123456789", "CN", "+541123456789"),            # AR WhatsApp id (54 9 …)
    ("011 15 2345-6789", "AR", "+541123456789"),          # AR domestic mobile dialling (15)
    ("+54 11 2345-6789", "CN", "+541123456789"),
    ("+551187654321", "CN", "+5511987654321"),            # BR old 8-digit WhatsApp id
    ("+55 11 98765-4321", "CN", "+5511987654321"),
    ("+551133334444", "CN", "+551133334444"),             # BR landline: no ninth digit
    ("+8613800138000", "CN", "+8613800138000"),
    ("+14155550100", "CN", "+14155550100"),
])
def test_one_form_per_mobile(raw: str, region: str, e164: str) -> None:
    assert normalize_phone(raw, region) == e164
