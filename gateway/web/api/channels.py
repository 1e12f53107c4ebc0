"""Admin API for channel accounts: every webhook channel with its settings fields and
accounts, and adding, changing or removing an account without a restart.

    GET    /api/v1/channels                       channels, their fields, their accounts
    PUT    /api/v1/channels/{channel}/{account}   {field: value, ...} -> the account as stored
    DELETE /api/v1/channels/{channel}/{account}   drop the admin's account (the file's returns)

Secrets — any field that signs or decrypts (token, secret, app_secret, encoding_aes_key,
auth_token, secret_token, verify_token, ...: see SECRET_FIELD) — are write-only: an answer says
whether one is set and shows its last two characters, never the value. A PUT that leaves a
secret out keeps the stored one (or the config file's); `null` clears it. Every other field is
replaced by what the PUT gives (left out = its default). Accounts are validated by their
connector's own settings type, errors naming the field; every change goes to the audit trail
(field names only, never a secret)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from deskgate.connectors.base import Connector, SettingsError
from deskgate.connectors.registry import CONNECTORS
from deskgate.gateway.appkeys import CONFIG, KEYS, REDIS
from deskgate.gateway.channel_accounts import ACCOUNT_NAME
from deskgate.gateway.web.auth import requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN, scope
from deskgate.gateway.web.webhooks import ACCOUNTS
from deskgate.models.enums import Role
from deskgate.queue.channels import MAX_STORED_ACCOUNTS, ChannelStore, StoredAccount

# errs on the side of secrecy: a new connector field named *_key or *_token is hidden too
SECRET_FIELD = re.compile(r"(^|_)(token|secret|key|password)$")
MAX_BODY_BYTES = 16 * 1024
SHOWN_TAIL = 2            # characters of a secret shown back ...
SHOWN_TAIL_MIN_LEN = 12   # ... only when it is long enough for that not to matter


class FieldSpec(msgspec.Struct, frozen=True):
    name: str
    type: str             # string | integer | number | boolean | list | json
    required: bool
    secret: bool
    default: Any = None


_KINDS = {msgspec.inspect.StrType: "string", msgspec.inspect.IntType: "integer",
          msgspec.inspect.FloatType: "number", msgspec.inspect.BoolType: "boolean",
          msgspec.inspect.VarTupleType: "list", msgspec.inspect.ListType: "list"}


def is_secret(name: str) -> bool:
    return bool(SECRET_FIELD.search(name))


def fields_of(connector: Connector) -> list[FieldSpec]:
    info = msgspec.inspect.type_info(connector.settings_type)
    assert isinstance(info, msgspec.inspect.StructType)
    out = []
    for f in info.fields:
        default = None if f.default is msgspec.NODEFAULT else f.default
        # a list of structs (a WhatsApp account's templates) is edited as JSON
        kind = "json" if isinstance(f.type, msgspec.inspect.VarTupleType) and isinstance(
            f.type.item_type, msgspec.inspect.StructType) else _KINDS.get(type(f.type), "string")
        out.append(FieldSpec(f.name, kind, f.required,
                             is_secret(f.name), None if is_secret(f.name) else default))
    return out


def _connector(request: web.Request) -> tuple[str, str, Connector]:
    channel, account = request.match_info["channel"], request.match_info["account"]
    connector = CONNECTORS.get(channel)
    if connector is None:
        raise ApiError(404, f"no webhook channel {channel!r}; one of {', '.join(CONNECTORS)}",
                       field="channel")
    if not ACCOUNT_NAME.match(account):
        raise ApiError(422, "an account name is 1-64 letters, digits, _ or -", field="account")
    return channel, account, connector


def _file_settings(request: web.Request, channel: str, account: str) -> dict[str, Any] | None:
    raw = request.app[CONFIG].channels.get(channel, {}).get(account)
    return None if raw is None else dict(raw)


def webhook_url(request: web.Request, channel: str, account: str) -> str:
    base = request.app[CONFIG].http.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    return f"{base}/webhooks/{channel}/{account}"


def account_view(request: web.Request, channel: str, account: str, connector: Connector,
                 settings: dict[str, Any], stored: StoredAccount | None,
                 in_file: bool) -> dict[str, Any]:
    """An account as an admin may see it: values of ordinary fields, only the state of
    secrets."""
    values, secrets = {}, {}
    for f in fields_of(connector):
        value = settings.get(f.name)
        if f.secret:
            text = str(value or "")
            secrets[f.name] = {"set": bool(text)} | (
                {"ends": text[-SHOWN_TAIL:]} if len(text) >= SHOWN_TAIL_MIN_LEN else {})
        elif f.name in settings:
            values[f.name] = value
    source = ("admin API, overriding the config file" if stored and in_file
              else "admin API" if stored else "config file")
    out: dict[str, Any] = {"channel": channel, "account": account, "source": source,
                           "settings": values, "secrets": secrets,
                           "webhook_url": webhook_url(request, channel, account)}
    if stored:
        out |= {"updated_by": stored.updated_by, "updated_at": stored.updated_at}
    return out


@requires(Role.ADMIN, policy=ADMIN)
async def list_channels(request: web.Request) -> web.Response:
    """Every webhook channel: its settings fields (secrets marked) and its accounts."""
    _, stored = await ChannelStore(request.app[REDIS], request.app[KEYS]).all()
    out = []
    for channel, connector in CONNECTORS.items():
        file_accounts = request.app[CONFIG].channels.get(channel, {})
        names = sorted({*file_accounts, *(a for c, a in stored if c == channel)})
        accounts = []
        for account in names:
            mine = stored.get((channel, account))
            settings = mine.settings if mine else dict(file_accounts[account] or {})
            accounts.append(account_view(request, channel, account, connector, settings, mine,
                                         account in file_accounts))
        out.append({"channel": channel, "fields": [msgspec.to_builtins(f)
                                                   for f in fields_of(connector)],
                    "accounts": accounts})
    return web.json_response({"channels": out})


def _field_of(message: str, names: list[str]) -> str | None:
    """Which field an error is about: msgspec names it (`$.x`, field `x`); a connector's own
    check starts with or mentions it."""
    m = re.search(r"`\$\.(\w+)|field `(\w+)`", message)
    if m:
        return m.group(1) or m.group(2)
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message):
            return name
    return None


def validate(connector: Connector, settings: dict[str, Any]) -> None:
    names = [f.name for f in fields_of(connector)]
    try:
        msgspec.convert(settings, type=connector.settings_type)
        connector.settings(settings)
    except (msgspec.ValidationError, SettingsError) as exc:
        text = re.sub(rf"^channels\.{re.escape(connector.name)}: ", "", str(exc))
        raise ApiError(422, text, field=_field_of(text, names)) from exc


@requires(Role.ADMIN, policy=ADMIN)
async def put_account(request: web.Request) -> web.Response:
    """Add or change an account; omitted secrets are kept; live on every gateway within ~1 s."""
    channel, account, connector = _connector(request)
    body = decode_body(await request.read(), dict[str, Any], what="account settings",
                       max_bytes=MAX_BODY_BYTES)
    store = ChannelStore(request.app[REDIS], request.app[KEYS])
    stored = await store.get(channel, account)
    in_file = _file_settings(request, channel, account)
    if stored is None and await store.count() >= MAX_STORED_ACCOUNTS:
        raise ApiError(409, f"at most {MAX_STORED_ACCOUNTS} accounts can be stored")
    before = stored.settings if stored else (in_file or {})
    settings, changes = {}, []
    for f in fields_of(connector):
        if f.secret and f.name not in body:
            if before.get(f.name):
                settings[f.name] = before[f.name]
            continue
        value = body.get(f.name)
        if value is not None:
            settings[f.name] = value
        if value != before.get(f.name):
            changes.append(f"{f.name} {'cleared' if value is None else 'replaced'}"
                           if f.secret else f.name)
    unknown = sorted(set(body) - {f.name for f in fields_of(connector)})
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r} for {channel}", field=unknown[0])
    validate(connector, settings)
    actor = scope(request).actor
    detail = ("changed: " + ", ".join(changes)) if changes else "saved unchanged"
    await store.put(channel, account, settings, actor, detail)
    request.app[ACCOUNTS].invalidate()
    saved = await store.get(channel, account)
    return web.json_response(account_view(request, channel, account, connector, settings, saved,
                                          in_file is not None))


@requires(Role.ADMIN, policy=ADMIN)
async def delete_account(request: web.Request) -> web.Response:
    """Remove an admin-added account (or the admin's override: the file's applies again)."""
    channel, account, connector = _connector(request)
    store = ChannelStore(request.app[REDIS], request.app[KEYS])
    in_file = _file_settings(request, channel, account)
    if await store.get(channel, account) is None:
        if in_file is not None:
            raise ApiError(409, f"{channel}/{account} comes from the config file; remove it "
                                "there (the API can only override it)")
        raise ApiError(404, f"no account {channel}/{account}")
    await store.delete(channel, account, scope(request).actor)
    request.app[ACCOUNTS].invalidate()
    if in_file is None:
        return web.json_response({"channel": channel, "account": account, "deleted": True})
    return web.json_response({"deleted": True} | account_view(
        request, channel, account, connector, in_file, None, True))
