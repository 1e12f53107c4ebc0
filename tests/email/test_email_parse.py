"""Normalization of the .eml corpus: charsets, clean text, threading keys, noise, attachments,
and degraded messages for bytes that are not mail."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from deskgate.connectors.email_config import EmailConfig
from deskgate.connectors.email_parse import (
    decode_bytes,
    decode_header_value,
    parse_mail,
    ticket_ref,
)
from deskgate.connectors.email_text import html_to_text, reply_text
from deskgate.models.enums import IdentityKind, MessageKind

from .conftest import FIXTURES, fixture_bytes, mail_config

NOW = datetime(2024, 4, 1, tzinfo=UTC)
EMAIL: EmailConfig = mail_config("p:").email


def parse(name: str, raw: bytes | None = None):
    return parse_mail(raw if raw is not None else fixture_bytes(name), EMAIL, account="support",
                      received_at=NOW, via="test")


# name, subject, sender, text must contain, text must not contain
CASES = [
    ("foxmail_gbk_base64.eml", "订单一直没有发货，请尽快处理", "liming@foxmail.com",
     "订单号 TB20240315001", None),
    ("gb2312_declared_gbk_chars.eml", "关于陶喆演唱会门票退款", "wangrong@163.com",
     "我叫王镕", "\ufffd"),
    ("raw_8bit_gbk.eml", "发票抬头开错了", "zhangsan@sina.com", "上海星辰科技有限公司", "\ufffd"),
    ("big5_qp.eml", "帳號無法登入", "meiling.chen@yahoo.com.tw", "一直顯示密碼錯誤", None),
    ("gb18030_four_byte.eml", "收到的商品屏幕碎了 𠮷", "zhaoliu@126.com", "𠮷野家", None),
    ("qqmail_html_only.eml", "快递显示签收但没收到", "12345678@qq.com",
     "SF1234567890123", "alert("),
    ("outlook_reply_en.eml", "RE: [#DG-1042] Printer error E42", "john.smith@acme.com",
     "still shows error E42", "update the firmware to 3.2"),
    ("gmail_reply_en.eml", "Re: Refund for order A-77812", "maria.garcia@gmail.com",
     "not received the refund", "issued on March 15"),
    ("gmail_reply_zh.eml", "Re: 付款页面一直转圈", "liuyang.sh@gmail.com",
     "能不能换个支付方式", "清除浏览器缓存"),
    ("foxmail_reply_zh.eml", "回复：[#DG-2077] 空调不制冷", "zhoujie@foxmail.com",
     "可以安排师傅上门", "什么时候方便"),
    ("qqmail_reply_zh.eml", "回复: 网络连不上", "87654321@qq.com", "指示灯一直是红色的",
     "请先重启路由器"),
    ("outlook_reply_zh.eml", "答复: 系统频繁宕机", "wangqiang@corp.cn", "考虑取消合同",
     "正在排查"),
    ("iphone_signature.eml", "Cancel my subscription", "emma.w@icloud.com",
     "cancel my subscription", "Sent from my iPhone"),
]


@pytest.mark.parametrize(("name", "subject", "sender", "present", "absent"), CASES,
                         ids=[c[0] for c in CASES])
def test_corpus_decodes_to_clean_text(name: str, subject: str, sender: str, present: str,
                                      absent: str | None) -> None:
    m = parse(name).message
    assert m.kind is MessageKind.MESSAGE, m.kind_reason
    assert m.subject == subject
    assert m.sender.identities[0].kind is IdentityKind.EMAIL
    assert m.sender.identities[0].value == sender
    assert present in m.text
    if absent:
        assert absent not in m.text
    assert "parse_error" not in m.meta


def test_display_names_decode_from_any_charset() -> None:
    assert parse("foxmail_gbk_base64.eml").message.sender.name == "李明"
    assert parse("big5_qp.eml").message.sender.name == "陳美玲"
    assert parse("raw_8bit_gbk.eml").message.sender.name == "张三"


def test_html_only_mail_keeps_html_and_gets_clean_text() -> None:
    m = parse("qqmail_html_only.eml").message
    assert "<div>" in m.html
    assert "<" not in m.text and "&amp;" not in m.text and "p{color" not in m.text
    assert "请你们查一下 & 给我回复" in m.text


def test_outlook_signature_after_closing_is_cut() -> None:
    text = parse("outlook_reply_en.eml").message.text
    assert "+1 415 555 0100" not in text and "Operations Manager" not in text


def test_threading_keys_come_from_headers_and_ticket_ref_from_subject() -> None:
    m = parse("outlook_reply_en.eml").message
    assert m.external_id == m.thread_key == (
        "BY5PR11MB4040C3B2E1D2F3A4B5C6D7E8F9A0@BY5PR11MB4040.namprd11.prod.outlook.com")
    assert m.thread_refs == ("dg-1042-1@example.com", "dg-1042-2@example.com")
    # A bare "[#DG-1042]" is a guess anyone can make: only a tag with its MAC is a reference.
    assert m.subject == "RE: [#DG-1042] Printer error E42" and m.ticket_ref == ""
    assert parse("foxmail_reply_zh.eml").message.ticket_ref == ""
    assert ticket_ref("回复：[#dg-2077-k7q2m4xa] 空调不制冷") == "DG-2077-K7Q2M4XA"
    assert ticket_ref("Re: [#DG-2077-K7Q2M4X] short MAC") == ""
    # Never thread on subject text: a bare "Re:" subject carries no ticket reference.
    assert parse("gmail_reply_en.eml").message.ticket_ref == ""


def test_missing_message_id_gets_a_stable_id_independent_of_trace_headers() -> None:
    raw = fixture_bytes("no_message_id.eml")
    first = parse("no_message_id.eml").message
    relayed = parse("x", b"Received: from another.hop by mx2; Tue, 9 Apr 2024\r\n" + raw).message
    assert first.external_id.startswith("sha256:")
    assert first.external_id == relayed.external_id
    assert first.id == relayed.id


@pytest.mark.parametrize(("name", "kind"), [
    ("auto_reply_outlook_oof.eml", MessageKind.AUTO_REPLY),
    ("auto_reply_zh.eml", MessageKind.AUTO_REPLY),
    ("precedence_bulk.eml", MessageKind.AUTO_REPLY),
    ("bounce_dsn.eml", MessageKind.BOUNCE),
    ("own_address.eml", MessageKind.OWN),
    ("read_receipt_mdn.eml", MessageKind.STATUS),
])
def test_noise_is_classified_with_a_reason(name: str, kind: MessageKind) -> None:
    m = parse(name).message
    assert m.kind is kind
    assert m.kind_reason


def test_chinese_auto_reply_subject_alone_is_enough() -> None:
    raw = fixture_bytes("auto_reply_zh.eml").replace(b"X-Autoreply: yes\r\n", b"")
    m = parse("x", raw).message
    assert m.kind is MessageKind.AUTO_REPLY
    assert "自动回复" in m.kind_reason


def test_bounce_text_excludes_the_delivery_report_parts() -> None:
    m = parse("bounce_dsn.eml").message
    assert "could not" in m.text
    assert "Reporting-MTA" not in m.text and "X-Postfix-Queue-ID" not in m.text


def test_attachments_are_listed_with_hashes_and_inline_flags() -> None:
    parsed = parse("attachments_inline_and_files.eml")
    atts = {a.name: a for a in parsed.message.attachments}
    assert set(atts) == {"screenshot.png", "发票.pdf", "订单明细.xlsx", "earlier.eml"}
    assert atts["screenshot.png"].inline and atts["screenshot.png"].content_type == "image/png"
    assert not atts["发票.pdf"].inline and atts["发票.pdf"].content_type == "application/pdf"
    blobs = {b.sha256: b.data for b in parsed.blobs}
    for a in atts.values():
        assert a.ref == f"sha256:{a.sha256}"
        assert hashlib.sha256(blobs[a.sha256]).hexdigest() == a.sha256
        assert len(blobs[a.sha256]) == a.size
    assert blobs[atts["发票.pdf"].sha256].startswith(b"%PDF-1.4")
    # The attached message is an attachment; its body is not the customer's text.
    assert "INNER BODY" not in parsed.message.text
    assert "附件是发票和报错截图" in parsed.message.text
    raw_ref = parsed.message.meta["raw"]
    assert blobs[raw_ref.removeprefix("sha256:")] == fixture_bytes(
        "attachments_inline_and_files.eml")


def test_attachment_limits_list_but_do_not_store_the_excess() -> None:
    from msgspec.structs import replace

    tight = replace(EMAIL, limits=replace(EMAIL.limits, max_attachments=1,
                                          max_attachment_bytes=500))
    parsed = parse_mail(fixture_bytes("attachments_inline_and_files.eml"), tight,
                        account="support", received_at=NOW, via="test")
    stored = [a for a in parsed.message.attachments if a.ref]
    assert len(stored) == 1
    assert len(parsed.message.attachments) == 2  # listed up to twice the limit
    assert "limit" in parsed.message.meta["attachments_not_stored"]
    assert {b.sha256 for b in parsed.blobs} == {stored[0].sha256,
                                               parsed.message.meta["raw"][7:]}


def test_malformed_mime_still_becomes_a_message_with_its_content() -> None:
    m = parse("malformed_mime.eml").message
    assert m.kind is MessageKind.MESSAGE
    assert m.subject == "产品有问题"
    assert m.sender.identities[0].value == "broken@example.net"
    assert "defects" in m.meta
    assert m.text.strip()


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe garbage", b"\r\n\r\n\r\n",
                                 b"Subject: only\r\n", bytes(range(256)) * 40])
def test_any_bytes_give_a_message_and_never_raise(raw: bytes) -> None:
    parsed = parse("x", raw)
    m = parsed.message
    assert m.external_id and m.sender.identities
    assert m.meta["raw"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert any(b.data == raw for b in parsed.blobs)


def test_every_fixture_parses_without_error() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.eml"))
    assert len(names) >= 20
    for name in names:
        assert "parse_error" not in parse(name).message.meta, name


def test_declared_charset_superset_and_guessing() -> None:
    assert decode_bytes("镕".encode("gbk"), "gb2312") == "镕"
    long_big5 = "我的帳號從昨天開始就無法登入，一直顯示密碼錯誤"
    assert decode_bytes(long_big5.encode("big5"), None) == long_big5
    assert decode_bytes("张三".encode("gbk"), None) == "张三"
    assert decode_bytes("中文".encode("gbk"), "no-such-charset") == "中文"
    assert decode_header_value("=?GB2312?B?" + "zsTX1g==" + "?=") == "文字"


def test_reply_text_keeps_text_when_everything_looks_quoted() -> None:
    assert reply_text("> only a quote\n> nothing new").text == "> only a quote\n> nothing new"
    assert reply_text("在 2024年1月1日 写道：\n原文").text == "在 2024年1月1日 写道：\n原文"


def test_reply_text_chinese_markers() -> None:
    text = ("请尽快回复。\n\n在 2024-03-01 10:00:00，\"客服\" <support@example.com> 写道：\n"
            ">您好\n")
    assert reply_text(text).text == "请尽快回复。"
    assert reply_text("收到，谢谢！\n\n发自我的iPhone\n").text == "收到，谢谢！"


def test_html_to_text_is_robust_to_hostile_markup() -> None:
    text = html_to_text("<div>hi<script>evil()</script><b>there</div></b><p>x&lt;y</p>"
                        "<blockquote type='cite'>old</blockquote><</").text
    assert "evil" not in text and "old" not in text
    assert "hi" in text and "there" in text and "x<y" in text
