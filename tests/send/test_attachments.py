"""Replies with files, per provider, against stand-ins that check authentication and the
documented multipart shapes (tests/fixtures/send/*/: media.json, sendFiles.json,
attachment.json, media_upload.json, image.json, media.json), with the real file side of the
sender worker (gateway/reply_files.py: the blob store, the reply's progress in Redis).

What each proves: every file goes the provider's documented way, after the text, once; a retry
after a failure sends only the parts that had not gone and uploads no file twice; a file the
channel does not take is refused before anything is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from deskgate.connectors.line import LineConnector
from deskgate.connectors.messenger import MessengerConnector
from deskgate.connectors.send.base import Rejected, RetryLater
from deskgate.connectors.send.http import upload_form
from deskgate.connectors.send.line import LineSender
from deskgate.connectors.send.messenger import InstagramSender, MessengerSender
from deskgate.connectors.send.telegram import TelegramSender
from deskgate.connectors.send.twilio import TwilioSender
from deskgate.connectors.send.wechat import OfficialAccountSender
from deskgate.connectors.send.wecom import WeComSender
from deskgate.connectors.send.whatsapp import WhatsAppSender
from deskgate.connectors.twilio import TwilioConnector
from deskgate.connectors.whatsapp import WhatsAppConnector
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.reply_files import ReplyFiles
from deskgate.models.enums import Channel
from deskgate.models.file_links import parse
from deskgate.models.outbound import OutboundAttachment, OutboundMessage, Recipient, TemplateCall
from deskgate.queue.access_tokens import RedisAccessTokens
from deskgate.queue.keys import Keys
from deskgate.queue.reply_parts import ReplyParts
from tests.send.conftest import Scripted, StandIn, doc, refuse, same_shape
from tests.send.tencent_standin import Tencent
from tests.send.tencent_standin import routes as tencent_routes
from tests.send.test_meta import PHONE_ID, TOKEN, meta_settings
from tests.send.test_telegram import BOT
from tests.send.test_telegram import settings as telegram_settings
from tests.send.test_wechat import KFID, OPENID, USER, oa, wecom

WA = doc("whatsapp", "media.json")
TG = doc("telegram", "sendFiles.json")
FB = doc("messenger", "attachment.json")
OA = doc("wechat", "media_upload.json")
KF = doc("wecom", "media_upload.json")
LINE_IMAGE = doc("line", "image.json")
TW = doc("twilio", "media.json")
PUBLIC = "https://desk.example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 200
PDF = b"%PDF-1.7 invoice " + b"i" * 300
Start = Callable[..., Awaitable[Any]]


@pytest.fixture
async def files(data_dir: Path, redis_url: str, keys: Keys) -> Any:
    client = aioredis.Redis.from_url(redis_url)
    yield ReplyFiles(BlobStore(data_dir), ReplyParts(client, keys), PUBLIC)
    await client.aclose()


def attach(data_dir: Path, name: str, ctype: str, data: bytes) -> OutboundAttachment:
    return OutboundAttachment(name, ctype, len(data), BlobStore(data_dir).put(data))


def reply(channel: Channel, address: str, *attachments: OutboundAttachment,
          text: str = "您好，发票和照片在这里") -> OutboundMessage:
    return OutboundMessage(reply_id="r_0123456789abcdef01234567", ticket_id="DG-1",
                           recipient=Recipient(channel, "main", address), text=text,
                           author="ann", created_at=datetime.now(UTC), attachments=attachments)


async def multipart(request: web.Request) -> dict[str, Any]:
    """The form's fields: text values as str, files as (filename, content type, bytes)."""
    if not request.content_type.startswith("multipart/form-data"):
        return {}
    out: dict[str, Any] = {}
    async for part in await request.multipart():
        assert isinstance(part, aiohttp.BodyPartReader)
        data = await part.read()
        out[part.name or ""] = (part.filename, part.headers.get("Content-Type"), bytes(data)) \
            if part.filename else data.decode()
    return out


# --- WhatsApp Cloud API ---------------------------------------------------------------------

class Uploads(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[Any] = []


def wa_routes(s: StandIn) -> None:
    assert isinstance(s, Uploads)

    async def media(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return refuse(401, "token")
        form = await multipart(request)
        if sorted(form) != sorted(WA["upload_fields"]) or form["messaging_product"] != \
                "whatsapp" or not isinstance(form["file"], tuple) or \
                form["type"] != form["file"][1]:
            return refuse(400, f"upload fields {sorted(form)}")
        s.uploads.append(form["file"])
        return web.json_response(WA["upload_ok"] | {"id": f"media-{len(s.uploads)}"})

    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return refuse(401, "token")
        body = await request.json()
        example = {"image": WA["image_request"], "document": WA["document_request"]}.get(
            body.get("type"), doc("whatsapp", "messages.json")["text_request"])
        why = same_shape(body, example, optional=("context",))
        return refuse(400, why) if why else await s.reply(body)
    s.app.router.add_post("/{phone}/media", media)
    s.app.router.add_post("/{phone}/messages", messages)
    s.default = Scripted(body=doc("whatsapp", "messages.json")["ok"])


async def test_whatsapp_uploads_each_file_and_a_retry_sends_only_what_had_not_gone(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(wa_routes, Uploads)
    conf = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID)
    message = reply(Channel.WHATSAPP, "8613800138000",
                    attach(data_dir, "photo.png", "image/png", PNG),
                    attach(data_dir, "invoice.pdf", "application/pdf", PDF))
    s.answer_next(s.default, s.default, Scripted(502, b"bad gateway"))
    with pytest.raises(RetryLater, match="502"):
        await WhatsAppSender().send(message, conf, http, tokens, files)
    assert [r["type"] for r in s.requests] == ["text", "image", "document"]
    assert s.uploads == [("photo.png", "image/png", PNG),
                         ("invoice.pdf", "application/pdf", PDF)]
    result = await WhatsAppSender().send(message, conf, http, tokens, files)
    # the retry: the document again by the media id it had, no upload, no text, no photo
    assert [r["type"] for r in s.requests] == ["text", "image", "document", "document"]
    assert len(s.uploads) == 2
    assert s.requests[-1]["document"] == {"id": "media-2", "filename": "invoice.pdf"}
    assert s.requests[1]["image"] == {"id": "media-1"}
    assert result.provider_id.startswith("wamid.")


async def test_a_file_the_channel_does_not_take_is_refused_before_anything_goes(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(wa_routes, Uploads)
    conf = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID)
    big = OutboundAttachment("scan.png", "image/png", 6 << 20, BlobStore(data_dir).put(PNG))
    with pytest.raises(Rejected, match="cannot send scan.png: it is too large; WhatsApp takes "
                                       r"image \(jpeg/png\) up to 5 MB"):
        await WhatsAppSender().send(reply(Channel.WHATSAPP, "86138", big), conf, http, tokens,
                                    files)
    zip_ = attach(data_dir, "logs.zip", "application/zip", b"PK\x03\x04zip")
    with pytest.raises(Rejected, match="it is application/zip"):
        await WhatsAppSender().send(reply(Channel.WHATSAPP, "86138", zip_), conf, http, tokens,
                                    files)
    assert s.requests == [] and s.uploads == []


# --- Telegram -------------------------------------------------------------------------------

def tg_routes(s: StandIn) -> None:
    async def send(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != BOT:
            return web.json_response(doc("telegram", "sendMessage.json")["unauthorized"],
                                     status=401)
        if method == "sendMessage":
            return await s.reply({"method": method, **await request.json()})
        form = await multipart(request)
        field = "photo" if method == "sendPhoto" else "document"
        if sorted(form) != sorted(TG[f"{method}_fields"]) or not isinstance(form[field], tuple):
            return refuse(400, f"{method} fields {sorted(form)}")
        return await s.reply({"method": method, **form})
    s.app.router.add_post("/bot{token}/{method}", send)
    s.default = Scripted(body=TG["ok"])


async def test_telegram_sends_photos_and_documents_as_uploads(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(tg_routes)
    message = reply(Channel.TELEGRAM, "123456789",
                    attach(data_dir, "photo.png", "image/png", PNG),
                    attach(data_dir, "发票.pdf", "application/pdf", PDF))
    result = await TelegramSender().send(message, telegram_settings(s.base), http, tokens,
                                         files)
    assert [r["method"] for r in s.requests] == ["sendMessage", "sendPhoto", "sendDocument"]
    assert s.requests[1]["photo"] == ("photo.png", "image/png", PNG)
    assert s.requests[2]["document"] == ("发票.pdf", "application/pdf", PDF)
    assert s.requests[2]["chat_id"] == "123456789"
    assert result.provider_id == "123456789:4712"
    # the reply is done: a replayed attempt sends nothing again
    await TelegramSender().send(message, telegram_settings(s.base), http, tokens, files)
    assert len(s.requests) == 3


# --- Messenger ------------------------------------------------------------------------------

def fb_routes(s: StandIn) -> None:
    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return refuse(401, "token")
        if request.content_type == "application/json":
            return await s.reply(await request.json())
        form = await multipart(request)
        if sorted(form) != sorted(FB["fields"]) or not isinstance(form["filedata"], tuple):
            return refuse(400, f"fields {sorted(form)}")
        message = msgspec.json.decode(form["message"])
        why = same_shape(message, FB["message"]) or same_shape(
            msgspec.json.decode(form["recipient"]), FB["recipient"])
        return refuse(400, why) if why else await s.reply(form | {"message": message})
    s.app.router.add_post("/me/messages", messages)
    s.default = Scripted(body=FB["ok"])


async def test_messenger_uploads_the_file_with_the_send(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(fb_routes)
    conf = meta_settings(MessengerConnector(), s.base)
    message = reply(Channel.MESSENGER, "1254477777772919",
                    attach(data_dir, "invoice.pdf", "application/pdf", PDF), text="")
    result = await MessengerSender().send(message, conf, http, tokens, files)
    [sent] = s.requests
    assert sent["message"] == {"attachment": {"type": "file", "payload": {"is_reusable": False}}}
    assert sent["filedata"] == ("invoice.pdf", "application/pdf", PDF)
    assert sent["messaging_type"] == "RESPONSE"
    assert result.provider_id == FB["ok"]["message_id"]


# --- WeChat Official Account and WeCom 微信客服 ----------------------------------------------

class TencentMedia(Tencent):
    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[tuple[str, Any]] = []


def media_routes(s: StandIn) -> None:
    assert isinstance(s, TencentMedia)
    tencent_routes(s)

    async def upload(request: web.Request) -> web.Response:
        if request.query.get("access_token") not in s.issued:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        kind = request.query.get("type", "")
        form = await multipart(request)
        if kind not in {*OA["types"], *KF["types"]} or sorted(form) != [OA["upload_field"]] \
                or not isinstance(form["media"], tuple):
            return refuse(400, f"type {kind!r}, fields {sorted(form)}")
        s.uploads.append((kind, form["media"]))
        return web.json_response(KF["upload_ok"] | {"type": kind,
                                                    "media_id": f"MEDIA_{len(s.uploads)}"})
    s.app.router.add_post("/cgi-bin/media/upload", upload)


async def test_wecom_uploads_temporary_media_once_and_sends_it_by_media_id(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(media_routes, TencentMedia)
    message = reply(Channel.WECOM, f"{KFID}:{USER}",
                    attach(data_dir, "photo.png", "image/png", PNG),
                    attach(data_dir, "invoice.pdf", "application/pdf", PDF))
    s.answer_next(Scripted(body=doc("wecom", "kf.json")["send_ok"] | {"msgid": "t"}),
                  Scripted(body={"errcode": -1, "errmsg": "system busy"}))
    with pytest.raises(RetryLater, match="busy"):
        await WeComSender().send(message, wecom(s.base), http, tokens, files)
    await WeComSender().send(message, wecom(s.base), http, tokens, files)
    assert [k for k, _ in s.uploads] == ["image", "file"]      # the image uploaded once
    assert s.uploads[1][1] == ("invoice.pdf", "application/pdf", PDF)
    sent = [(r["msgtype"], r.get(r["msgtype"]), r["msgid"]) for r in s.requests]
    assert sent == [("text", {"content": message.text}, "r_0123456789abcdef01234567"),
                    ("image", {"media_id": "MEDIA_1"}, "r_0123456789abcdef01234567-f0"),
                    ("image", {"media_id": "MEDIA_1"}, "r_0123456789abcdef01234567-f0"),
                    ("file", {"media_id": "MEDIA_2"}, "r_0123456789abcdef01234567-f1")]


async def test_wechat_sends_images_and_refuses_documents(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(media_routes, TencentMedia)
    image = attach(data_dir, "photo.png", "image/png", PNG)
    await OfficialAccountSender().send(reply(Channel.WECHAT, OPENID, image, text=""),
                                       oa(s.base), http, tokens, files)
    [sent] = s.requests
    assert same_shape(sent, OA["image_request"]) == "" and sent["touser"] == OPENID
    assert s.uploads == [("image", ("photo.png", "image/png", PNG))]
    pdf = attach(data_dir, "invoice.pdf", "application/pdf", PDF)
    with pytest.raises(Rejected, match="WeChat cannot send invoice.pdf.*by email"):
        await OfficialAccountSender().send(reply(Channel.WECHAT, OPENID, pdf), oa(s.base),
                                           http, tokens, files)
    assert len(s.requests) == 1


# --- LINE and Twilio fetch the file from our signed link ------------------------------------

def line_routes(s: StandIn) -> None:
    async def push(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer line-token-0123456789":
            return refuse(401, "token")
        body = await request.json()
        if len(body["messages"]) > LINE_IMAGE["max_messages"]:
            return refuse(400, "too many messages")
        for m in body["messages"]:
            if m["type"] == "image":
                why = same_shape(m, LINE_IMAGE["image"])
                if why or not m["originalContentUrl"].startswith("https://"):
                    return refuse(400, why or "https only")
        return await s.reply(body)
    s.app.router.add_post("/v2/bot/message/push", push)
    s.default = Scripted(body=doc("line", "messages.json")["ok"])


async def test_line_sends_images_as_signed_links_in_one_call(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(line_routes)
    conf = LineConnector().settings({"channel_secret": "c" * 32, "api_base": s.base,
                                     "channel_access_token": "line-token-0123456789"})
    message = reply(Channel.LINE, "U4af4980629a1b2c3d4e5f60718293a4b",
                    attach(data_dir, "a.png", "image/png", PNG),
                    attach(data_dir, "b.jpg", "image/jpeg", PNG + b"j"))
    await LineSender().send(message, conf, http, tokens, files)
    [sent] = s.requests
    text, a, b = sent["messages"]
    assert text == {"type": "text", "text": message.text}
    for i, m in enumerate((a, b)):
        assert m["originalContentUrl"] == m["previewImageUrl"]
        token = m["originalContentUrl"].removeprefix(f"{PUBLIC}/files/")
        assert parse(token)[:2] == (message.reply_id, i)
    assert a["originalContentUrl"] != b["originalContentUrl"]


def twilio_routes(s: StandIn) -> None:
    async def create(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != aiohttp.encode_basic_auth(
                "AC" + "0" * 32, "t" * 32):
            return refuse(401, "auth")
        form = await request.post()
        if not set(form) <= set(TW["fields"]) or len(form.getall("MediaUrl", [])) > \
                TW["max_media"]:
            return refuse(400, f"fields {sorted(form)}")
        return await s.reply({k: form.getall(k) for k in set(form)})
    s.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create)
    s.default = Scripted(201, doc("twilio", "messages.json")["created"])


async def test_twilio_mms_carries_every_file_as_a_media_url_in_one_message(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    s = await standin(twilio_routes)
    conf = TwilioConnector().settings({"auth_token": "t" * 32, "account_sid": "AC" + "0" * 32,
                                       "from_number": "+15557122661", "api_base": s.base})
    message = reply(Channel.SMS, "+8613800138000",
                    attach(data_dir, "a.png", "image/png", PNG),
                    attach(data_dir, "b.pdf", "application/pdf", PDF))
    await TwilioSender().send(message, conf, http, tokens, files)
    [sent] = s.requests
    assert sent["Body"] == [message.text] and sent["To"] == ["+8613800138000"]
    assert [parse(u.removeprefix(f"{PUBLIC}/files/"))[1] for u in sent["MediaUrl"]] == [0, 1]


async def test_no_file_goes_where_the_channel_cannot_take_it_now(
        standin: Start, http: aiohttp.ClientSession, tokens: RedisAccessTokens,
        files: ReplyFiles, data_dir: Path) -> None:
    """Outside WhatsApp's window only the template goes (files are refused before any call);
    Instagram takes no documents; a name with control characters cannot break the part."""
    s = await standin(wa_routes, Uploads)
    conf = meta_settings(WhatsAppConnector(), s.base, phone_number_id=PHONE_ID)
    late = msgspec.structs.replace(
        reply(Channel.WHATSAPP, "8613800138000", attach(data_dir, "a.png", "image/png", PNG)),
        window_opened_at=datetime.now(UTC) - timedelta(hours=30),
        template=TemplateCall("order_update", "zh_CN"))
    with pytest.raises(Rejected, match="only an approved template \\(without files\\)"):
        await WhatsAppSender().send(late, conf, http, tokens, files)
    assert s.requests == [] and s.uploads == []
    pdf = reply(Channel.INSTAGRAM, "1789", attach(data_dir, "a.pdf", "application/pdf", PDF))
    with pytest.raises(Rejected, match="Instagram cannot send a.pdf: it is application/pdf"):
        await InstagramSender().send(pdf, meta_settings(MessengerConnector(), s.base), http,
                                     tokens, files)

    class Sink:
        data = b""

        async def write(self, chunk: bytes) -> None:
            self.data += bytes(chunk)

    sink = Sink()
    form = upload_form({}, "media", 'a"\r\nX-Evil: 1.pdf', "image/png\r\nX-Bad: y", b"data")
    await form().write(sink)  # type: ignore[arg-type]
    assert b"\r\nX-Evil" not in sink.data and b"\r\nX-Bad" not in sink.data
    assert b"data" in sink.data
