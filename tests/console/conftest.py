from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from deskgate.gateway.config import Config
from deskgate.gateway.web.app import create_app
from deskgate.models.enums import Role


@pytest.fixture
def sign_in() -> Callable[[Any, str], Awaitable[str]]:
    """Log a test client in like the page does; returns the session's CSRF token."""
    async def login(client: Any, token: str) -> str:
        resp = await client.post("/console/login", json={"token": token})
        assert resp.status == 200, await resp.text()
        return (await resp.json())["csrf"]
    return login


@pytest.fixture
async def server(config: Config, redis_url: str, data_dir: Path,
                 free_port: Callable[[], int]) -> AsyncIterator[str]:
    """The whole app, triage worker included, on a real loopback port for the browser."""
    app = create_app(config, redis_url, data_dir, run_workers=True)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
Token = Callable[..., str]


class Browser:
    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        page.on("dialog", self._dialog)

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.accept()         # the revoke confirm is the only legitimate one

    async def sign_in(self, token: str) -> None:
        await self.page.goto(f"{self.base}/console/")
        await self.page.fill("#token", token)
        await self.page.click("#login-form button[type=submit]")
        await self.page.wait_for_selector("#nav a")

    async def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def browser(server: str) -> AsyncIterator[Callable[..., Any]]:
    """open_page(width, height, locale) -> a Browser page on the served console."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install -y "
                    "chromium); no browser can be downloaded here")
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=20_000)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])

        async def open_page(width: int = 1280, height: int = 860, locale: str = "en-GB") -> Browser:
            context = await chromium.new_context(viewport={"width": width, "height": height},
                                                 locale=locale)
            return Browser(await context.new_page(), server)

        yield open_page
        await chromium.close()


class Api:
    """The test's own REST client for setting up data and checking outcomes."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: Token) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(self, method: str, path: str, role: Role, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token(role)}"}
        async with self.http.request(method, self.base + path, json=body,
                                     headers=headers) as resp:
            assert resp.status < 300, f"{method} {path}: {resp.status} {await resp.text()}"
            return await resp.json()

    async def message(self, external_id: str, text: str, name: str = "Li 李",
                      email: str = "li@example.cn", subject: str = "",
                      account: str = "default") -> None:
        await self.call("POST", "/api/v1/messages", Role.INTEGRATION, {
            "external_id": external_id, "sender": {"email": email, "name": name},
            "text": text, "subject": subject, "account": account})

    async def wait_tickets(self, n: int) -> list[dict[str, Any]]:
        for _ in range(400):
            page = await self.call("GET", "/api/v1/tickets", Role.ADMIN)
            if len(page["tickets"]) >= n:
                return page["tickets"]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{n} tickets did not appear")


@pytest.fixture
async def api(server: str, token: Token) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, server, token)
