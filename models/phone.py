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
    number = _one_form_per_mobile(number)
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _one_form_per_mobile(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """Mobiles that WhatsApp ids write differently from the number the carrier (and Twilio
    SMS) shows, mapped to one form so both channels find one customer:

    - Mexico: wa_id "521" + 10 digits, carrier "+52" + 10 digits; the "1" mobile prefix was
      dropped from the numbering plan in 2019, WhatsApp (Cloud API and via Twilio) still sends
      it (chatwoot/chatwoot#14174; loqui/im#96). -> +52 + 10 digits.
    - Argentina: wa_id "549" + 10 digits; the 9 is only the mobile dialling marker (the 15 of
      domestic dialling), the Cloud API itself answers 131030 unless it is removed
      (kevinrivm/vocero-crm#35, chatwoot/chatwoot#11053). -> +54 + 10 digits.
    - Brazil: mobiles gained a ninth digit (a leading 9) in 2012-2016, but WhatsApp accounts
      registered before keep the 8-digit wa_id "55" + area + 8 digits
      (wwebjs/whatsapp-web.js#596, adiwajshing/Baileys#1997). 8-digit subscriber numbers
      starting 6-9 are mobiles (landlines start 2-5). -> +55 + area + 9 + 8 digits."""
    national = str(number.national_number)
    code = number.country_code
    if code == 52 and len(national) == 11 and national[0] == "1":
        national = national[1:]
    elif code == 54 and len(national) == 11 and national[0] == "9":
        national = national[1:]
    elif code == 55 and len(national) == 10 and national[2] in "6789":
        national = national[:2] + "9" + national[2:]
    else:
        return number
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
