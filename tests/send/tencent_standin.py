"""A stand-in for Tencent's WeChat Official Account and WeCom APIs: access tokens are issued
by the documented token endpoints for the right id+secret only, every call must carry a token
it issued and still honours (`expire_all` makes it answer 42001/40014 like Tencent), bodies
must have the documented shape and be raw UTF-8 (Tencent shows \\u escapes literally)."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from tests.send.conftest import Scripted, StandIn, doc, refuse, same_shape

WECHAT = doc("wechat", "custom_send.json")
WECOM = doc("wecom", "kf.json")
WECHAT_MEDIA = doc("wechat", "media_upload.json")
WECOM_MEDIA = doc("wecom", "media_upload.json")


def by_msgtype(body: dict[str, Any], text: dict[str, Any], media: dict[str, Any]) -> Any:
    """The documented example for this body's msgtype: text, or a media message whose
    content is {"media_id"} under the msgtype's name (image, voice, video, file)."""
    kind = body.get("msgtype")
    if kind == "text" or not isinstance(kind, str):
        return text
    shape = {k: v for k, v in media.items() if k != media["msgtype"]}
    return shape | {"msgtype": kind, kind: media[media["msgtype"]]}
APP_ID, APP_SECRET = "wx3a9f2c1b7d8e6f50", "app-secret-0123456789abcdef0123"
CORP_ID, KF_SECRET = "ww1436e0e65a779aee", "kf-secret-0123456789abcdef012345"


class Tencent(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.issued: set[str] = set()
        self.fetches = 0
        self._n = itertools.count(1)
        self.sync_script: list[Any] = []
        self.syncs: list[dict[str, Any]] = []
        self.default = Scripted(body=WECHAT["ok"])

    def expire_all(self) -> None:
        self.issued.clear()

    def _issue(self) -> str:
        self.fetches += 1
        token = f"ACCESS_{next(self._n)}"
        self.issued.add(token)
        return token


def routes(s: StandIn) -> None:
    assert isinstance(s, Tencent)

    async def oa_token(request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential" or q.get("appid") != APP_ID or \
                q.get("secret") != APP_SECRET:
            return web.json_response(WECHAT["token_bad_secret"])
        return web.json_response(WECHAT["token_ok"] | {"access_token": s._issue()})

    async def wecom_token(request: web.Request) -> web.Response:
        q = request.query
        if q.get("corpid") != CORP_ID or q.get("corpsecret") != KF_SECRET:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return web.json_response(WECOM["token_ok"] | {"access_token": s._issue()})

    async def checked(request: web.Request, example: Any, expired: dict[str, Any],
                      optional: tuple[str, ...] = ()) -> dict[str, Any] | web.Response:
        if request.query.get("access_token") not in s.issued:
            return web.json_response(expired)
        raw = await request.read()
        if b"\\u" in raw:
            return refuse(400, "\\u escapes: Tencent wants raw UTF-8")
        body: dict[str, Any] = await request.json()
        why = same_shape(body, example(body) if callable(example) else example, optional)
        return refuse(400, why) if why else body

    async def custom_send(request: web.Request) -> web.Response:
        got = await checked(request, lambda b: by_msgtype(b, WECHAT["request"],
                                                          WECHAT_MEDIA["image_request"]),
                            WECHAT["expired"])
        return got if isinstance(got, web.Response) else await s.reply(got)

    async def kf_send(request: web.Request) -> web.Response:
        got = await checked(request, lambda b: by_msgtype(b, WECOM["send_request"],
                                                          WECOM_MEDIA["file_request"]),
                            WECOM["invalid_token"])
        if isinstance(got, web.Response):
            return got
        if s.script:
            return await s.reply(got)
        s.requests.append(got)          # WeCom echoes the msgid we chose
        return web.json_response(WECOM["send_ok"] | {"msgid": got["msgid"]})

    async def kf_sync(request: web.Request) -> web.Response:
        got = await checked(request, WECOM["sync_request"], WECOM["invalid_token"],
                            optional=("cursor", "token", "open_kfid"))
        if isinstance(got, web.Response):
            return got
        s.syncs.append(got)
        if not s.sync_script:
            return web.json_response({"errcode": 0, "errmsg": "ok", "next_cursor": "",
                                      "has_more": 0, "msg_list": []})
        return web.json_response(s.sync_script.pop(0))

    s.app.router.add_get("/cgi-bin/token", oa_token)
    s.app.router.add_get("/cgi-bin/gettoken", wecom_token)
    s.app.router.add_post("/cgi-bin/message/custom/send", custom_send)
    s.app.router.add_post("/cgi-bin/kf/send_msg", kf_send)
    s.app.router.add_post("/cgi-bin/kf/sync_msg", kf_sync)
