"""The sender workers: read the outbox as the consumer group "send" and deliver each reply
with its channel's sender (connectors/send/registry.py), over one shared aiohttp session.

Per reply: `begin` marks the attempt (atomically, before the provider is called); the
provider's answer is then recorded with the acknowledgement of the outbox entry in one step:
sent (with the provider's id, for status callbacks), retry later (a delay zset, honouring
Retry-After, exponential back-off with jitter; never a sleep in the consumer), failed (the
provider refused it for good), or dead-lettered after the last attempt. A worker killed
between `begin` and that record leaves the entry pending; it is replayed by the same consumer
name on restart or taken over by another worker (XAUTOCLAIM), so the reply is sent at most
once more (docs/outbound.md says per channel where the provider removes even that)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from deskgate.connectors.send.base import (
    AccessTokens,
    Files,
    Rejected,
    RetryLater,
    Sender,
    WindowClosed,
)
from deskgate.connectors.send.email import EmailAccount, message_id
from deskgate.connectors.send.registry import SENDERS, sources
from deskgate.gateway.channel_accounts import LiveAccounts
from deskgate.gateway.config import Config
from deskgate.gateway.mail.blobs import BlobStore
from deskgate.gateway.reply_files import ReplyFiles
from deskgate.gateway.workers import auto_answer
from deskgate.models.delivery import next_attempt_delay
from deskgate.models.enums import Channel
from deskgate.models.outbound import OutboundMessage, Recipient
from deskgate.queue.access_tokens import RedisAccessTokens
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.keys import Keys
from deskgate.queue.outbox import Outbox, decode_entries
from deskgate.queue.reply_parts import ReplyParts
from deskgate.queue.sla import Sla
from deskgate.queue.sla_store import SlaConfigStore
from deskgate.queue.tickets import TicketStore
from deskgate.queue.work import Work

log = logging.getLogger("deskgate.senders")

AUTOCLAIM_EVERY_SECONDS = 5.0
DUE_EVERY_SECONDS = 0.5


class SenderAccounts:
    """The sender and account settings a reply goes out with: email accounts from the
    config's email.relay, every other channel's from the same accounts the webhooks verify
    with (config file and admin-stored)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config,
                 data_dir: Path) -> None:
        self._r, self._k, self._config = client, keys, config
        self._live = LiveAccounts(config)
        self._blobs = BlobStore(data_dir)

    async def find(self, recipient: Recipient) -> tuple[Sender, Any]:
        """Raises Rejected with what to configure when there is no way to send."""
        if recipient.channel is Channel.EMAIL:
            relay = self._config.email.relay
            if relay is None:
                raise Rejected("no SMTP relay is configured for replies: set email.relay")
            return SENDERS["email"], EmailAccount(relay, relay.sender_for(recipient.account),
                                                  self._blobs.get)
        if recipient.channel is Channel.VOICE:
            return await self._voicemail(recipient.account)
        for name in sources(recipient.channel):
            sender = SENDERS.get(name)
            found = await self._live.get(self._r, self._k, name, recipient.account)
            if sender is not None and found is not None:
                return sender, found[1]
        raise Rejected(f"no {recipient.channel} sender for account {recipient.account!r}: "
                       "configure the account (channels: in the config, or PUT "
                       "/api/v1/channels) with its outbound credentials")


    async def _voicemail(self, account: str) -> tuple[Sender, Any]:
        """A voicemail is answered by SMS to the caller, through the Twilio account that the
        voice account names (`sms_account`, else the Twilio account of the same name)."""
        voice = await self._live.get(self._r, self._k, "voice", account)
        if voice is None:
            raise Rejected(f"no voice account {account!r} is configured any more, so no Twilio "
                           "account to answer its voicemail by SMS")
        name = voice[1].sms_account or account
        found = await self._live.get(self._r, self._k, "twilio", name)
        if found is None:
            raise Rejected(
                f"voicemail replies go by SMS through a Twilio account, and there is no "
                f"channels.twilio.{name}: add it with account_sid, auth_token and from_number "
                f"(or messaging_service_sid), or set channels.voice.{account}.sms_account to "
                "the Twilio account of this number")
        settings = found[1]
        if not settings.account_sid or not (settings.from_number
                                            or settings.messaging_service_sid):
            raise Rejected(
                f"the Twilio account {name!r} is not set up for SMS: set its account_sid and "
                "from_number (or messaging_service_sid) to answer voicemails by SMS")
        return SENDERS["twilio"], settings


def http_session(config: Config) -> aiohttp.ClientSession:
    """The one session every sender of a process shares: bounded time per call, bounded
    header sizes, a bounded number of connections."""
    cfg = config.senders
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=cfg.http_timeout_seconds,
                                      connect=min(10.0, cfg.http_timeout_seconds)),
        connector=aiohttp.TCPConnector(limit=cfg.concurrency, limit_per_host=cfg.concurrency),
        max_line_size=8190, max_field_size=8190, raise_for_status=False)


class SenderWorker:
    def __init__(self, client: aioredis.Redis, keys: Keys, config: Config, consumer: str,
                 accounts: SenderAccounts, http: aiohttp.ClientSession,
                 tokens: AccessTokens, files: Files) -> None:
        self._cfg = config.senders
        self.outbox = Outbox(client, keys)
        self.reader = self.outbox.reader(consumer)
        self.store = TicketStore(client, keys)
        self._work = Work(client, keys, lease_seconds=config.workers.lease_seconds)
        self._sla_config = SlaConfigStore(client, keys, config.sla)
        self._client, self._keys = client, keys
        self._lease_seconds = config.workers.lease_seconds
        self._accounts, self._http, self._tokens, self._files = accounts, http, tokens, files
        self._slots = asyncio.Semaphore(self._cfg.concurrency)
        self.sent = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; sends in flight are finished first."""
        await self.reader.ensure_group()
        backlog = decode_entries(await self.reader.own_pending_raw(self._cfg.batch))
        if backlog:
            log.warning("%s: %d replies were being sent when this consumer last stopped; "
                        "finishing them", self.reader.consumer, len(backlog))
        next_claim = next_due = 0.0
        log.info("sender %s reading the outbox", self.reader.consumer)
        while not stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_due:
                    next_due = now + DUE_EVERY_SECONDS
                    await self.outbox.release_due(time.time())
                entries, backlog = backlog or decode_entries(
                    await self.reader.read_raw(self._cfg.batch, self._cfg.block_ms)), []
                if now >= next_claim:
                    next_claim = now + AUTOCLAIM_EVERY_SECONDS
                    stale = decode_entries(await self.reader.claim_stale_raw(
                        self._cfg.claim_idle_ms, self._cfg.batch))
                    if stale:
                        log.warning("took over %d replies a stopped sender left unfinished",
                                    len(stale))
                    entries += stale
                    await self.reader.trim_acknowledged(self._cfg.keep_acked_seconds * 1000,
                                                        int(time.time() * 1000))
                if entries:
                    await asyncio.gather(*(self.deliver(eid, rid) for eid, rid in entries))
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                log.error("Redis unavailable (%s); retrying in 1 s", exc)
                await asyncio.sleep(1.0)

    async def deliver(self, entry_id: str, reply_id: str) -> None:
        async with self._slots:
            attempt = await self.outbox.begin(reply_id, time.time())
            if attempt.outcome != "send" or attempt.message is None:
                # already sent / failed (a replayed entry), or not a reply at all
                await self.reader.ack([entry_id])
                return
            message = attempt.message
            try:
                sender, settings = await self._accounts.find(message.recipient)
                await self._before_send(message, settings)
                result = await sender.send(message, settings, self._http, self._tokens,
                                           self._files)
            except WindowClosed as exc:
                await self._fail(message, entry_id, f"window closed: {exc.reason}")
            except Rejected as exc:
                await self._fail(message, entry_id, exc.reason)
            except RetryLater as exc:
                await self._retry(message, entry_id, attempt.attempt, exc.reason,
                                  exc.retry_after)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                # a sender is meant to turn these into RetryLater; one that did not still
                # gets its reply retried, never dropped
                await self._retry(message, entry_id, attempt.attempt,
                                  f"{type(exc).__name__}: {exc}", None)
            except RedisError:
                raise                 # our own bookkeeping: the entry stays pending
            except Exception as exc:  # a sender's bug must not stop the worker
                log.exception("the %s sender failed on reply %s", message.recipient.channel,
                              reply_id)
                await self._retry(message, entry_id, attempt.attempt,
                                  f"sender error {type(exc).__name__}: {exc}", None)
            else:
                state = await self.outbox.sent(message, entry_id, result.provider_id,
                                               result.state, time.time())
                self.sent += 1
                log.debug("reply %s sent on %s (%s)", reply_id, message.recipient.channel, state)

    async def _before_send(self, message: OutboundMessage, settings: Any) -> None:
        if isinstance(settings, EmailAccount):
            # the customer's answer must thread even if we die right after the relay took it
            await self.store.record_sent(message.recipient.address,
                                         message_id(message, settings), message.ticket_id)

    async def _fail(self, message: OutboundMessage, entry_id: str, reason: str) -> None:
        log.warning("reply %s of ticket %s failed on %s: %s", message.reply_id,
                    message.ticket_id, message.recipient.channel, reason)
        await self.outbox.fail(message.reply_id, entry_id, reason, time.time())
        await self._undelivered(message, reason)

    async def _undelivered(self, message: OutboundMessage, reason: str) -> None:
        """An automatic answer that failed for good sends its ticket back to agents."""
        if message.author == "auto":
            sla = Sla(self._client, self._keys, await self._sla_config.current(),
                      lease_seconds=self._lease_seconds)
            await auto_answer.undelivered(self.store, self._work, sla, message, reason,
                                          time.time())

    async def _retry(self, message: OutboundMessage, entry_id: str, attempt: int, reason: str,
                     retry_after: float | None) -> None:
        now = time.time()
        delay = next_attempt_delay(attempt, retry_after)
        outcome, n = await self.outbox.retry(message.reply_id, entry_id, reason, now + delay,
                                             self._cfg.max_attempts, now)
        if outcome == "dead":
            log.error("reply %s of ticket %s given up after %d attempts (%s); it is in the "
                      "outbox dead-letter stream", message.reply_id, message.ticket_id, n,
                      reason)
            await self._undelivered(message, reason)
        else:
            log.info("reply %s: attempt %d failed (%s); next in %.1f s", message.reply_id, n,
                     reason, delay)


async def run_senders(client: aioredis.Redis, keys: Keys, config: Config, data_dir: Path,
                      consumer: str, stop: asyncio.Event) -> int:
    """One sender worker until `stop`; returns how many replies it sent."""
    async with http_session(config) as http:
        worker = SenderWorker(client, keys, config, consumer,
                              SenderAccounts(client, keys, config, data_dir), http,
                              RedisAccessTokens(client, keys, consumer),
                              ReplyFiles(BlobStore(data_dir), ReplyParts(client, keys),
                                         config.http.public_url))
        with contextlib.suppress(asyncio.CancelledError):
            await worker.run(stop)
        return worker.sent
