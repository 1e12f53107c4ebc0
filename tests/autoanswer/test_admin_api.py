"""/api/v1/auto-answers over real HTTP: admins only, secrets write-only, every bad field a 4xx
naming it, and the "test this lookup" call against the shop's stand-in (signed, checked)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from deskgate.models.enums import Role

from .conftest import LOOKUP_SECRET, Lookup, answer_config

PATH = "/api/v1/auto-answers/waba/order_status"


async def test_admins_keep_auto_answers_and_the_secret_is_never_shown(
        client: Any, lookup: Lookup, auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    for headers in (auth(Role.MANAGER), auth(Role.AGENT, "ann"), auth(Role.INTEGRATION)):
        assert (await client.get("/api/v1/auto-answers", headers=headers)).status == 403
        assert (await client.put(PATH, headers=headers,
                                 json=answer_config(lookup))).status == 403
    assert (await client.get("/api/v1/auto-answers")).status == 401

    resp = await client.put(PATH, headers=admin, json=answer_config(lookup))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["secret_set"] is True and "secret" not in body
    assert LOOKUP_SECRET not in await resp.text()
    listed = await (await client.get("/api/v1/auto-answers", headers=admin)).text()
    assert LOOKUP_SECRET not in listed and '"id":"waba/order_status"' in listed.replace(" ", "")

    # a change without the secret keeps the stored one: the test call still signs correctly
    changed = {k: v for k, v in answer_config(lookup, timeout_s=1.5).items() if k != "secret"}
    resp = await client.put(PATH, headers=admin, json=changed)
    assert resp.status == 200 and (await resp.json())["timeout_s"] == 1.5
    tested = await client.post(f"{PATH}/test", headers=admin,
                               json={"entities": {"ORDER_ID": ["DD20261118004521"]},
                                     "language": "en"})
    assert tested.status == 200, await tested.text()
    result = await tested.json()
    assert result["ok"] is True and result["gate"] == "" and lookup.refused == []
    assert result["answer"] == ("Hi {customer_name}, order {order_number} is shipped and "
                                "arrives 2026-12-05. (DG-0)")
    assert lookup.requests[-1]["entities"] == {"ORDER_ID": ["DD20261118004521"]}

    lookup.mode = "500"
    result = await (await client.post(f"{PATH}/test", headers=admin,
                                      json={"entities": {"ORDER_ID": ["X1"]}})).json()
    assert result == {"id": "waba/order_status", "ok": False, "lookup_ms": result["lookup_ms"],
                      "reason": "the lookup answered HTTP 500", "fields": None}

    assert (await client.delete(PATH, headers=admin)).status == 200
    assert (await client.get(PATH, headers=admin)).status == 404
    assert (await client.post(f"{PATH}/test", headers=admin,
                              json={"entities": {"ORDER_ID": ["X1"]}})).status == 404


@pytest.mark.parametrize("change,field,words", [
    ({"url": "ftp://shop.example/lookup"}, "", "http:// or https://"),
    ({"url": "https://user:pw@shop.example/lookup"}, "", "no user:password@"),
    ({"url": "http://shop.example/lookup"}, "", "url: use https://"),
    ({"url": "http://10.0.0.8/lookup", "allow_plain_http": "yes"}, "allow_plain_http", "bool"),
    ({"timeout_s": 30}, "timeout_s", "<= 10"),
    ({"secret": "short"}, "", "at least 16"),
    ({"entities": ["ORDER_ID", "IBAN"]}, "entities[1]", "IBAN"),
    ({"en": "Hi {password}", "zh": ""}, "", "{password} is neither a macro variable"),
    ({"en": "ETA {carrier}"}, "", "gates.required_fields"),
    ({"en": "", "zh": ""}, "", "needs a zh or an en template"),
    ({"gates": {"min_confidence": 1.5}}, "gates.min_confidence", "<= 1"),
    ({"gates": {"condition": {"field": "status", "one_of": []}}}, "", "length >= 1"),
    ({"webhook": "https://elsewhere.example"}, "", "unknown field"),
])
async def test_bad_configurations_get_422_saying_what_to_fix(
        client: Any, lookup: Lookup, auth: Callable[..., dict[str, str]],
        change: dict[str, Any], field: str, words: str) -> None:
    resp = await client.put(PATH, headers=auth(Role.ADMIN),
                            json=answer_config(lookup, **change))
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert words in error["message"], error
    if field:
        assert error.get("field") == field, error


async def test_a_new_auto_answer_needs_a_secret_and_a_valid_name(
        client: Any, lookup: Lookup, auth: Callable[..., dict[str, str]]) -> None:
    admin = auth(Role.ADMIN)
    body = {k: v for k, v in answer_config(lookup).items() if k != "secret"}
    resp = await client.put(PATH, headers=admin, json=body)
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "secret"
    resp = await client.put("/api/v1/auto-answers/waba/Order Status", headers=admin,
                            json=answer_config(lookup))
    assert resp.status == 400 and "topic" in (await resp.json())["error"]["message"]
    resp = await client.put("/api/v1/auto-answers/*/order_status", headers=admin,
                            json=answer_config(lookup))
    assert resp.status == 200                       # every account's answer of the topic
    resp = await client.put(PATH, headers=admin, data=b"{" + b" " * 40_000 + b"}")
    assert resp.status == 413
    tested = await client.post("/api/v1/auto-answers/*/order_status/test", headers=admin,
                               json={"entities": {"IBAN": ["DE00"]}})
    assert tested.status == 422 and (await tested.json())["error"]["field"] == "entities"
    openapi = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/auto-answers/{account}/{topic}/test" in openapi["paths"]


async def test_plain_http_only_to_loopback_or_when_allowed(
        client: Any, lookup: Lookup, auth: Callable[..., dict[str, str]],
        aclient: Any, keys: Any) -> None:
    """The lookup is sent the customer's verified phones and emails: https, or http:// to this
    machine (the stand-in), or to a private network only when the admin says so."""
    admin = auth(Role.ADMIN)
    for url in ("http://127.0.0.1:9/lookup", "http://127.8.0.1/lookup", "http://[::1]:9/x",
                "http://localhost:9/lookup", "https://shop.example/lookup"):
        resp = await client.put(PATH, headers=admin, json=answer_config(lookup, url=url))
        assert resp.status == 200, (url, await resp.text())
    for url in ("http://shop.example/lookup", "http://10.0.0.8/lookup",
                "http://127.0.0.1.shop.example/lookup", "http://localhost.shop.example/x"):
        resp = await client.put(PATH, headers=admin, json=answer_config(lookup, url=url))
        assert resp.status == 422, url
        assert (await resp.json())["error"]["message"].startswith("url: use https://")
    resp = await client.put(PATH, headers=admin, json=answer_config(
        lookup, url="http://10.0.0.8/lookup", allow_plain_http=True))
    assert resp.status == 200 and (await resp.json())["allow_plain_http"] is True

    # one saved before https was required: skipped (logged), the others still listed and used
    legacy = {**answer_config(lookup), "url": "http://shop.example/lookup"}
    await aclient.hset(keys.auto_answers, "waba/refund", json.dumps(legacy))
    listed = await (await client.get("/api/v1/auto-answers", headers=admin)).json()
    assert [c["id"] for c in listed["auto_answers"]] == ["waba/order_status"]
    assert (await client.get("/api/v1/auto-answers/waba/refund", headers=admin)).status == 404
