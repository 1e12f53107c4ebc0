"""The shell of the pages a customer opens from a signed link (the satisfaction survey, the
ticket status page): Chinese or English, readable on a phone, no script, nothing cached, the
link never leaked to another site through Referer, never framed or indexed."""

from __future__ import annotations

import html
from collections.abc import Container

from aiohttp import web

LANGUAGES = ("zh", "en")
_BASE_STYLE = ("body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',"
               "sans-serif;max-width:36rem;margin:0 auto;padding:1rem;line-height:1.5;"
               "color:#1f2328;background:#fff}h1{font-size:1.35rem;margin:.5rem 0 1rem}")


def language(request: web.Request, offered: Container[str] = LANGUAGES,
             preferred: str = "") -> str:
    """?lang= when it names a language on offer, else `preferred` (e.g. the ticket's), else
    the browser's Accept-Language (Chinese or English)."""
    asked = request.query.get("lang", "")
    if asked in offered:
        return asked
    if preferred in offered:
        return preferred
    return "zh" if request.headers.get("Accept-Language", "").lower().startswith("zh") else "en"


def page(lang: str, title: str, body: str, *, status: int = 200, style: str = "",
         headers: dict[str, str] | None = None) -> web.Response:
    """`body` is HTML the caller built with every customer string escaped."""
    doc = (f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
           '<meta charset="utf-8"><meta name="viewport" content="width=device-width, '
           'initial-scale=1"><meta name="robots" content="noindex">'
           f"<title>{html.escape(title)}</title><style>{_BASE_STYLE}{style}</style></head>"
           f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(text=doc, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "X-Robots-Tag": "noindex",
                                 "Content-Security-Policy": "default-src 'none'; "
                                 "style-src 'unsafe-inline'; form-action 'self'; "
                                 "base-uri 'none'; frame-ancestors 'none'",
                                 **(headers or {})})
