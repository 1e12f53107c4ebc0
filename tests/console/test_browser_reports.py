"""A manager's report page in Debian's Chromium against the real app (triage worker and the
rollup consumer in-process): tickets arrive and one is resolved through the API, the page
shows the figures, the heat map and CSV downloads, in English and Chinese."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from deskgate.models.enums import Role

pytestmark = pytest.mark.browser


async def _folded(api: Any, created: int, resolved: int) -> None:
    """Until the workers' tick has folded the audit entries into the rollups."""
    for _ in range(400):
        series = await api.call("GET", "/api/v1/reports/series", Role.ADMIN)
        cols = series["columns"]
        got = [sum(r[cols.index(c)] for r in series["rows"]) for c in ("created", "resolved")]
        if got == [created, resolved]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"rollups did not reach {created} created, {resolved} resolved")


async def test_manager_reads_reports_with_heatmap_and_csv(browser: Any, api: Any,
                                                          token: Any) -> None:
    from playwright.async_api import expect

    for i in range(3):
        await api.message(f"rep{i}", f"订单 DD1234567{i}0 还没到，请帮我查一下物流 {i}",
                          email=f"c{i}@example.cn")
    tickets = await api.wait_tickets(3)
    await api.call("POST", f"/api/v1/tickets/{tickets[0]['id']}/resolve", Role.ADMIN,
                   {"topic": "shipping"})
    await _folded(api, 3, 1)

    b = await browser()
    await b.sign_in(token(Role.MANAGER))           # a site-wide manager
    await b.page.click("#nav a[href='#/reports']")
    fcr = b.page.locator("[data-report=fcr] tbody tr")
    await expect(fcr).to_have_count(1)
    # one first resolution, resolved at once by a manager: first-contact
    await expect(fcr.locator("td").nth(1)).to_have_text("1")
    await expect(fcr.locator("td").nth(2)).to_have_text("1")
    cells = b.page.locator("svg.heatmap rect.heat-cell")
    await expect(cells).to_have_count(7 * 24)
    counts = await cells.evaluate_all("els => els.map(e => Number(e.dataset.n))")
    assert sum(counts) == 3
    await expect(b.page.locator("[data-report=transfers] tbody tr td").nth(1)).to_have_text("3")
    await expect(b.page.locator("[data-report=backtest]")).to_be_visible()   # no teams: empty

    link = b.page.locator("[data-report=agents] a.csv")
    href = await link.get_attribute("href")
    assert href and "format=csv" in href and "/api/v1/reports/agents" in href
    text = await b.page.evaluate("href => fetch(href).then(r => r.text())", href)
    assert text.lstrip("\ufeff").startswith("team,agent,assigned,handled")
    await b.shot("manager-reports")

    await b.page.click("#lang")
    await expect(b.page.locator("#view h2").first).to_have_text("报表")
    await expect(b.page.locator("[data-report=csat] h2")).to_have_text("客户满意度")
    await b.shot("manager-reports-zh")
