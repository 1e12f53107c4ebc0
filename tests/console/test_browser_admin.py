"""End-to-end admin journeys in Debian's Chromium (same harness as test_browser.py): a WeChat
account added whose token is never shown again and then verifies a signed delivery; an SLA
policy edited (a bad one refused with the error shown); a topic model trained on a tiny
uploaded file, compared, promoted and rolled back. Screenshots go to test-artifacts/console/."""

from __future__ import annotations

import csv
import io
import random
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from deskgate.connectors.wechat_crypto import sha1_signature
from deskgate.models.enums import Role

pytestmark = pytest.mark.browser
WX_TOKEN = "wxTok3n-Deskgate-7Qp2"
WECHAT_XML = ("<xml><ToUserName><![CDATA[gh_3a9f2c1b7d8e]]></ToUserName>"
              "<FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>"
              "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
              "<Content><![CDATA[你好，我的订单 DD20231115001 还没发货]]></Content>"
              "<MsgId>24312345678901234</MsgId></xml>").encode()


async def wechat_delivery(api: Any, token: str, nonce: str) -> int:
    ts = str(int(time.time()))
    query = urlencode({"signature": sha1_signature(token, ts, nonce), "timestamp": ts,
                       "nonce": nonce})
    async with api.http.post(f"{api.base}/webhooks/wechat/shop_cn?{query}",
                             data=WECHAT_XML) as resp:
        return resp.status


async def test_admin_adds_a_wechat_account_whose_token_is_never_shown_again(
        browser: Any, api: Any, token: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.ADMIN, label="root"))
    await b.page.click("#nav a[href='#/channels']")
    form = b.page.locator("#channel-form")
    await form.locator("select[name=channel]").select_option("wechat")
    await form.locator("input[name=account]").fill("shop_cn")
    await form.locator("input[name=token]").fill(WX_TOKEN)
    await form.locator("input[name=encoding_aes_key]").fill("too-short")
    await form.locator("input[name=skill]").fill("billing")
    await form.locator("button[type=submit]").click()
    aes_error = form.locator("[data-field=encoding_aes_key] .field-error")
    await expect(aes_error).to_contain_text("43")                 # refused, next to the field
    await b.shot("admin-channel-error")

    await form.locator("input[name=encoding_aes_key]").fill("")
    async with b.page.expect_response(lambda r: r.request.method == "PUT") as put_info:
        await form.locator("button[type=submit]").click()
    put_text = await (await put_info.value).text()
    assert WX_TOKEN not in put_text and '"set":true' in put_text.replace(" ", "")
    await expect(b.page.locator("#webhook-url")).to_have_value(
        f"{api.base}/webhooks/wechat/shop_cn")
    row = b.page.locator("tr[data-account='wechat/shop_cn']")
    await expect(row).to_contain_text("set ••p2")               # that it is set, no more
    await b.shot("admin-channels")

    # the token is nowhere in the page: not in the markup, not in any input's value
    assert WX_TOKEN not in await b.page.content()
    values = await b.page.evaluate(
        "() => [...document.querySelectorAll('input')].map(i => i.value)")
    assert all(WX_TOKEN not in v for v in values)
    listing = await api.call("GET", "/api/v1/channels", Role.ADMIN)
    assert WX_TOKEN not in str(listing)

    assert await wechat_delivery(api, WX_TOKEN, "n-1") == 200     # verifies with the new token
    assert await wechat_delivery(api, "someone-elses-token", "n-2") == 403

    # edit the skill only: the secret input stays empty and the token is kept
    await row.locator("button.edit").click()
    secret = form.locator("input[name=token]")
    await expect(secret).to_have_value("")
    assert "••p2" in (await secret.get_attribute("placeholder") or "")
    await form.locator("input[name=skill]").fill("care")
    await form.locator("button[type=submit]").click()
    await expect(row).to_contain_text("care")
    assert await wechat_delivery(api, WX_TOKEN, "n-3") == 200
    assert b.dialogs == []


async def test_admin_edits_an_sla_policy_and_a_bad_one_is_refused(
        browser: Any, api: Any, token: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.ADMIN, label="root"))
    await b.page.click("#nav a[href='#/sla']")
    rows = b.page.locator("#sla-rows tr")
    await expect(rows).to_have_count(4)                           # the config file's defaults
    high = rows.nth(1)
    await expect(high.locator("input[name=name]")).to_have_value("high")
    await high.locator("input[name=warn_at]").fill("1.5")
    await b.page.click("#sla-form button[type=submit]")
    await expect(b.page.locator("#sla-error")).to_contain_text("warn_at must be between 0 and 1")
    await expect(high).to_have_class("sla-row invalid")
    await b.shot("admin-sla-error")
    assert (await api.call("GET", "/api/v1/sla", Role.ADMIN))["source"] == "config file"

    await high.locator("input[name=warn_at]").fill("0.7")
    await high.locator("input[name=first_response_minutes]").fill("120")
    await b.page.click("#sla-add")
    new = rows.nth(4)
    await new.locator("input[name=name]").fill("vip")
    await new.locator("input[name=tiers]").fill("vip")
    await new.locator("input[name=first_response_minutes]").fill("15")
    await new.locator("button[title='Move up']").click()          # before the fallback
    await b.page.click("#sla-form button[type=submit]")
    await expect(b.page.locator("#sla-source")).to_contain_text("rev 1")
    await expect(b.page.locator("#sla-error")).to_have_text("")
    doc = await api.call("GET", "/api/v1/sla", Role.ADMIN)
    policies = doc["config"]["sla"]
    assert [p["name"] for p in policies] == ["urgent", "high", "normal", "vip", "low"]
    assert (policies[1]["warn_at"], policies[1]["first_response_minutes"]) == (0.7, 120)
    assert policies[3]["tiers"] == ["vip"]
    await b.shot("admin-sla")
    assert b.dialogs == []


TINY = {
    "billing": ["发票{n}开错了，需要重开", "I was charged twice on invoice {n}",
                "我被重复扣款了{n}元", "Please send a corrected invoice {n}"],
    "shipping": ["快递单号SF{n}三天没更新了", "My parcel {n} is stuck in transit",
                 "物流一直停在转运中心，包裹{n}到哪了", "Tracking number {n} has not moved"],
    "warranty": ["手机{n}屏幕坏了，还在保修期内吗", "Is device {n} still under warranty?",
                 "保修卡丢了，产品{n}还能保修吗", "Warranty claim for product {n}"],
}


def tiny_csv(per_label: int = 40) -> bytes:
    rng = random.Random(7)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["text", "label"])
    rows = [(tpl[i % len(tpl)].format(n=rng.randrange(10**5, 10**8)), label)
            for label, tpl in TINY.items() for i in range(per_label)]
    rng.shuffle(rows)
    w.writerows(rows)
    return out.getvalue().encode()


async def test_admin_trains_compares_promotes_and_rolls_back_a_model(
        browser: Any, api: Any, token: Any, run_jobs: Any) -> None:
    from playwright.async_api import expect

    b = await browser()
    await b.sign_in(token(Role.ADMIN, label="root"))
    await b.page.click("#nav a[href='#/models']")
    topic = b.page.locator(".task-block[data-task=topic]")
    await expect(topic.locator(".current-version")).to_have_text("default")
    form = b.page.locator("#train-form")
    await form.locator("select[name=source]").select_option("upload")
    await form.locator("input[type=file]").set_input_files(
        files=[{"name": "past_tickets.csv", "mimeType": "text/csv", "buffer": tiny_csv()}])
    async with b.page.expect_response(lambda resp: resp.url.endswith("/api/v1/models/train")):
        await form.locator("button[type=submit]").click()
    await expect(b.page.locator("#job-stage")).to_contain_text("queued")
    await run_jobs()                                    # the job runs; the page polls
    await expect(b.page.locator("#job-stage")).to_contain_text("100%")
    assert await b.page.locator("#job-progress").get_attribute("value") == "100"

    comparison = b.page.locator("#comparison")
    await expect(comparison).to_be_visible()
    version = await comparison.get_attribute("data-version")
    assert version and version.startswith("topic-")
    await expect(comparison.locator("svg.confusion")).to_have_count(2)   # current and candidate
    await expect(comparison.locator(".candidate-confusion svg.confusion text")
                 .filter(has_text="warranty").first).to_be_visible()
    await expect(comparison.locator(".hbars.paired").first).to_contain_text("macro-F1")
    await expect(comparison.locator("#policy")).to_be_visible()
    # the packaged model knows no "warranty": the two disagree on those rows
    assert await comparison.locator("tr.disagreement").count() > 0
    await b.shot("admin-models-compare")

    await comparison.locator("#compare-promote").click()
    await expect(topic.locator(".current-version")).to_have_text(version)
    models = await api.call("GET", "/api/v1/models", Role.ADMIN)
    assert models["current"]["topic"] == version
    await expect(comparison.locator("#compare-promote")).to_have_count(0)   # now current
    await b.shot("admin-models-promoted")

    await topic.locator("button.rollback").click()
    await expect(topic.locator(".current-version")).to_have_text("default")
    models = await api.call("GET", "/api/v1/models", Role.ADMIN)
    assert models["current"]["topic"] == "default"
    assert [d.split("?")[0] for d in b.dialogs] == [
        f"Promote topic model {version}", "Roll topic back to default"]
    await b.shot("admin-models-rolled-back")
