"""The pure rules of auto-answers (models/auto_answer.py) and their report counters
(models/rollup.py, models/reports.py), with expectations worked out by hand."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from deskgate.models.auto_answer import (
    Condition,
    Gates,
    LookupConfig,
    LookupFailed,
    answer_gate,
    answer_text,
    choose,
    parse_response,
    request_entities,
)
from deskgate.models.enums import Priority, Sentiment
from deskgate.models.reports import Filter, auto_answer
from deskgate.models.rollup import Dims, Opened, fold, opened
from deskgate.models.sla import Calendar
from deskgate.models.triage import Entity, Triage
from deskgate.models.webhook_signature import sign

CONFIG = LookupConfig(url="https://shop.example/lookup", secret="s" * 16,
                      entities=("ORDER_ID", "PHONE"),
                      gates=Gates(required_fields=("status",),
                                  condition=Condition(field="status", one_of=("shipped",))),
                      en="{order_number}: {status}", zh="订单 {order_number}：{status}")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"ticket":"DG-1"}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, "1700000000", body) == "sha256=" + expected


def test_only_a_200_json_object_of_at_most_64_kb_is_an_answer() -> None:
    assert parse_response(200, b'{"status": "shipped"}') == {"status": "shipped"}
    for status, body, words in [(404, b"{}", "HTTP 404"), (200, b"[1]", "JSON object"),
                                (200, b"\xff\xfe", "not JSON"),
                                (200, b"[" * 30000 + b"]" * 30000, "nested too deep"),
                                (200, b'{"a": "' + b"x" * 65536 + b'"}', "over 64 KB")]:
        with pytest.raises(LookupFailed, match=words):
            parse_response(status, body)


def test_gates_templates_entities_and_the_account_fallback() -> None:
    assert answer_gate(CONFIG, {"status": "shipped"}) == ""
    assert answer_gate(CONFIG, {"status": " "}) == "the lookup's answer lacks status"
    assert answer_gate(CONFIG, {"status": 3}) == "status is '3', not one of 'shipped'"
    values = {"order_number": "A1", "ticket": "DG-1"}
    assert answer_text(CONFIG, "zh", values, {"status": "shipped", "x": "y"}) == "订单 A1：shipped"
    assert answer_text(CONFIG, "en", values, {"status": {"code": 1}}) == 'A1: {"code": 1}'
    triage = Triage(language="en", topic="order_status", confidence=0.9, priority=Priority.P3,
                    sentiment=Sentiment.NEUTRAL, entities=(
                        Entity("ORDER_ID", "a1", 0, 2, "A1"), Entity("EMAIL", "x@y.cn", 3, 9),
                        Entity("ORDER_ID", "A1", 10, 12), Entity("PHONE", "138", 13, 16,
                                                                 "+86138")))
    assert request_entities(CONFIG, triage) == {"ORDER_ID": ["A1"], "PHONE": ["+86138"]}
    configs = {"*/order_status": CONFIG, "shop2/order_status": CONFIG}
    assert choose(configs, "shop2", "order_status") == ("shop2/order_status", CONFIG)
    assert choose(configs, "shop1", "order_status") == ("*/order_status", CONFIG)
    assert choose(configs, "shop1", "refund") is None


def test_deflection_and_reopen_counted_from_the_audit_trail() -> None:
    """Three eligible tickets: A answered and reopened, B answered, C routed. Deflection 2/3,
    reopen rate 1/2; the reopen counts in the hour of A's answer, not of the reopen."""
    sums: dict[str, float] = {}
    cal = Calendar()

    def add(incrs: tuple) -> None:  # type: ignore[type-arg]
        for i in incrs:
            sums[i.field] = sums.get(i.field, 0) + i.n

    dims = Dims(team="t", skill="orders", channel="whatsapp", priority="P3",
                topic="order_status", policy="std")
    states = {}
    for n, name in enumerate("ABC"):
        f = opened(1000.0 + n, Opened(dims=dims))
        add(f.incrs)
        states[name] = f.state
    for name, after in (("A", "answered"), ("B", "answered"), ("C", "routed")):
        f = fold(states[name], 1100, "auto", "auto_answer", "open", after, "",
                 lambda p, t: cal)
        add(f.incrs)
        states[name] = f.state
    f = fold(states["A"], 1200, "auto", "resolve", "open", "resolved", "", lambda p, t: cal)
    f = fold(f.state, 90_000, "system", "reopened", "", "open", "", lambda p, t: cal)  # type: ignore[arg-type]
    add(f.incrs)
    reopened_at = [i.ts for i in f.incrs if i.field.startswith("aa_reopened")]
    assert reopened_at == [1100, 1100]
    table = auto_answer({k: v for k, v in sums.items() if k.count("|") == 4}, Filter())
    assert table.as_dicts() == [{"all": "all", "eligible": 3, "answered": 2,
                                 "deflection_rate": 0.6667, "reopened": 1, "reopen_rate": 0.5}]
    # a second reopen of the same ticket does not count again
    again = fold(f.state, 95_000, "auto", "resolve", "open", "resolved", "", lambda p, t: cal)  # type: ignore[arg-type]
    again = fold(again.state, 96_000, "system", "reopened", "", "open", "", lambda p, t: cal)  # type: ignore[arg-type]
    assert not [i for i in again.incrs if i.field.startswith("aa_")]
