"""The email sender's fast path (connectors/send/email.render) against the email package's
(build, flattened the way aiosmtplib sends it, for relays with and without 8BITMIME): every
header and the body decode to the same values, the rendered mail is 7-bit ASCII with CRLF
line ends and folded lines (the transfer encoding may differ: render never needs 8BITMIME),
and what the fast path does not encode goes to build."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import msgspec
import pytest
from aiosmtplib.email import flatten_message

from deskgate.connectors.email_config import RelayConfig
from deskgate.connectors.send.email import EmailAccount, build, render
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, Recipient

RELAY = msgspec.convert({"host": "127.0.0.1", "port": 25, "security": "none"}, RelayConfig)
CHINESE = EmailAccount(RELAY, "小店客服 <support@shop.example.cn>", lambda ref: b"")


def reply(**changes: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "reply_id": "r_0123456789abcdef01234567", "ticket_id": "DG-7",
        "recipient": Recipient(Channel.EMAIL, "support", "han.meimei@example.net"),
        "text": "您好！退货已受理，请把商品寄回。\nThanks!", "author": "ann",
        "created_at": datetime(2026, 12, 2, 7, 30, 5, tzinfo=UTC),
        "subject": "Re: 订单 A1234 的退货申请 [#DG-7-K7Q2M4XA]",
        "in_reply_to": "first-1@example.net", "references": ("first-1@example.net",)}
    return OutboundMessage(**(fields | changes))


CASES = {
    "chinese": reply(),
    "ascii": reply(subject="Re: Order A1234 [#DG-7-K7Q2M4XA]", text="Hello,\nyour refund is on "
                   "its way.\n\n.a line that starts with a dot\nFrom the team"),
    "long ascii subject and lines": reply(
        subject="Re: " + "a rather long subject about the order that never arrived " * 3,
        text="word " * 60 + "\n" + "x" * 200),
    "long chinese subject and line": reply(subject="回复: " + "很长的中文主题，关于没有送到的订单" * 8,
                                           text="这一行很长，" * 40),
    "emoji and mixed": reply(subject="Re: 退款 refund 😀 now", text="谢谢 😀\r\nthanks\r\n"),
    "references folded": reply(references=tuple(f"m{i}.{'x' * 20}@mail.example.com"
                                                for i in range(25))),
    "automatic, empty text": reply(author="auto", text="", subject=""),
    "no in-reply-to": reply(in_reply_to="", references=()),
    "ascii name with comma": reply(),
    "no name": reply(),
}
ACCOUNTS = {"ascii name with comma": EmailAccount(RELAY, '"Shop, Inc." <support@shop.example.cn>',
                                                  lambda ref: b""),
            "no name": EmailAccount(RELAY, "support@shop.example.cn", lambda ref: b"")}


def parsed(raw: bytes) -> EmailMessage:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("cte", ["8bit", "7bit"])
def test_render_decodes_like_the_email_package(name: str, cte: str) -> None:
    message, account = CASES[name], ACCOUNTS.get(name, CHINESE)
    fast = render(message, account)
    assert fast is not None
    slow = parsed(flatten_message(build(message, account), cte_type=cte))
    mine = parsed(fast)
    assert mine.keys() == slow.keys()
    for header in slow.keys():
        if header != "Content-Transfer-Encoding":   # 7-bit clean by design: compared decoded
            assert str(mine[header]) == str(slow[header]), header
    assert mine["Content-Transfer-Encoding"] in ("7bit", "quoted-printable", "base64")
    assert mine.get_content_type() == "text/plain" and mine.get_content_charset() == "utf-8"
    # line ends: the email package keeps CRLF in an 8bit body and LF inside base64
    assert mine.get_content().replace("\r\n", "\n") == slow.get_content().replace("\r\n", "\n")
    assert not mine.defects


@pytest.mark.parametrize("name", list(CASES))
def test_render_is_seven_bit_crlf_and_folded(name: str) -> None:
    raw = render(CASES[name], ACCOUNTS.get(name, CHINESE))
    assert raw is not None and raw.isascii()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), head
    if name == "chinese":
        assert b"=?utf-8?b?" in head.lower()      # RFC 2047, no raw UTF-8 in headers


def test_what_render_does_not_encode_goes_to_build() -> None:
    attachment = OutboundAttachment(name="退货说明.pdf", content_type="application/pdf", size=3,
                                    ref="sha256:" + "0" * 64)
    for message in (reply(attachments=(attachment,)),
                    reply(recipient=Recipient(Channel.EMAIL, "support", "韩梅梅@例子.中国")),
                    reply(subject="Re: a\r\nBcc: someone@example.com"),
                    reply(subject="Re: =?utf-8?b?5Lit?= looks encoded"),
                    reply(in_reply_to="an id with spaces@example.net"),
                    reply(references=("<ok@example.net>", "非ASCII@example.net"))):
        assert render(message, CHINESE) is None
