"""Replies and forwards as real clients send them (tests/fixtures/email): answers written
between the quoted lines are the customer's and stay; quoted lines and their attribution go;
a forwarded message is evidence the customer brings: kept, and flagged `meta.forwarded`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deskgate.connectors.email_parse import parse_mail
from deskgate.connectors.email_text import html_to_text, reply_text

from .conftest import fixture_bytes, mail_config

EMAIL = mail_config("p:").email
NOW = datetime(2024, 4, 2, tzinfo=UTC)


def parse(name: str):
    return parse_mail(fixture_bytes(name), EMAIL, account="support", received_at=NOW,
                      via="test").message


# fixture, the customer's lines (all kept), quoted or attribution lines (all gone)
INTERLEAVED = [
    ("gmail_interleaved_en.eml",
     ["A-88123", "March 28, around 10 pm.", "Yes, the box was crushed and the screen is cracked."],
     ["Could you send us the order number?", "wrote:", "Was the parcel damaged"]),
    ("foxmail_interleaved_zh.eml",
     ["订单号是 JD20240330881。", "地址没错，是上海市浦东新区张江路 88 号。", "外箱被压扁了，里面的杯子碎了两个。"],
     ["请问您的订单号是多少", "写道", "收货地址是否正确"]),
]


@pytest.mark.parametrize(("name", "kept", "gone"), INTERLEAVED, ids=[c[0] for c in INTERLEAVED])
def test_answers_between_quoted_lines_are_kept(name: str, kept: list[str],
                                                gone: list[str]) -> None:
    m = parse(name)
    for line in kept:
        assert line in m.text
    for quoted in gone:
        assert quoted not in m.text
    assert "forwarded" not in m.meta


# fixture, the customer's note, a line of the forwarded message, its marker line
FORWARDS = [
    ("gmail_forward_en.eml", "nothing came", "signed for by: front desk",
     "---------- Forwarded message ---------"),
    ("apple_forward_en.eml", "charged twice", "Total: £249.00", "Begin forwarded message:"),
    ("outlook_forward_en.eml", "20% higher", "8,000 EUR per year", "-----Original Message-----"),
    ("gmail_forward_zh.eml", "钱到现在还没到账", "退回原支付账户", "---------- 转发的邮件 ---------"),
    ("netease_forward_zh.eml", "请帮忙跟进", "理赔金额为 120 元", "-------- 转发邮件信息 --------"),
    ("qqmail_forward_zh.eml", "现在却不给退", "请放心购买", "原始邮件"),
]


@pytest.mark.parametrize(("name", "note", "evidence", "marker"), FORWARDS,
                         ids=[c[0] for c in FORWARDS])
def test_forwarded_message_is_kept_and_flagged(name: str, note: str, evidence: str,
                                               marker: str) -> None:
    m = parse(name)
    assert m.meta.get("forwarded") == "true"
    assert note in m.text and evidence in m.text and marker in m.text
    assert m.text.index(note) < m.text.index(marker) < m.text.index(evidence)


def test_a_reply_separator_without_forward_subject_still_ends_the_new_part() -> None:
    # The same Outlook layout as a forward, answered with RE:: the rest is our own history.
    m = parse("outlook_reply_en.eml")
    assert "forwarded" not in m.meta and "update the firmware" not in m.text
    text = ("Thanks.\n\n-----Original Message-----\nFrom: Sales <s@example.com>\n"
            "Sent: Monday\nTo: me\nSubject: Quote\n\nold text")
    assert reply_text(text, "RE: Quote") == reply_text(text)
    assert reply_text(text).text == "Thanks." and not reply_text(text).forwarded
    assert reply_text(text, "FW: Quote").forwarded


def test_a_quoted_forward_marker_is_quoted_history_not_a_forward() -> None:
    text = ("Any news?\n\nOn Mon, Apr 1, 2024 at 9:00 AM Support <s@example.com> wrote:\n"
            "> ---------- Forwarded message ---------\n> From: x\n")
    assert reply_text(text).text == "Any news?" and not reply_text(text).forwarded


def test_html_gmail_inline_answers_and_forward() -> None:
    inline = ('<div dir="ltr">Hi,</div><div class="gmail_quote"><div class="gmail_attr">On Mon, '
              'Apr 1, 2024 at 9:12 AM Support &lt;s@example.com&gt; wrote:<br></div>'
              '<blockquote class="gmail_quote">Order number?</blockquote><div>A-88123</div>'
              '<blockquote class="gmail_quote">Damaged?</blockquote><div>Yes, crushed.</div></div>')
    got = html_to_text(inline)
    assert got.text == "Hi,\n\nA-88123\n\nYes, crushed." and not got.forwarded
    older = ('<div>Thanks!</div><div class="gmail_quote">On Mon, Apr 1, 2024 at 9:12 AM X '
             '&lt;x@y.com&gt; wrote:<br><blockquote class="gmail_quote">old</blockquote></div>')
    assert html_to_text(older).text == "Thanks!"
    forward = ('<div dir="ltr">See below.<div class="gmail_quote"><div class="gmail_attr">'
               '---------- Forwarded message ---------<br>From: SF &lt;n@sf.com&gt;<br></div>'
               '<div>Parcel SF123 delivered.</div></div></div>')
    got = html_to_text(forward)
    assert got.forwarded and "See below." in got.text and "Parcel SF123 delivered." in got.text


def test_html_outlook_forward_is_told_by_the_subject() -> None:
    markup = ('<div>Please see the invoice below.</div><div id="appendonsend"></div><hr>'
              '<div id="divRplyFwdMsg"><b>From:</b> Billing &lt;b@x.com&gt;<br><b>Sent:</b> '
              'Monday<br><b>To:</b> me<br><b>Subject:</b> Invoice 42</div>'
              '<div>Amount due: 100 EUR</div>')
    forwarded = html_to_text(markup, subject="FW: Invoice 42")
    assert forwarded.forwarded and "Amount due: 100 EUR" in forwarded.text
    replied = html_to_text(markup, subject="RE: Invoice 42")
    assert replied.text == "Please see the invoice below." and not replied.forwarded
