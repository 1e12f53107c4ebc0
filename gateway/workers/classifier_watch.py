"""Keeps every triage worker on the promoted model versions, without a restart.

    watcher = await start(redis_url, keys, data_dir, name, load_triager())
    TriageWorker(..., triager=watcher, ...)      # watcher() -> the Triager to use now
    ...
    await watcher.close()

A promote or rollback PUBLISHes on `models:events`; each watcher then re-reads the pointers in
`models:current` (the notice only wakes it up; it also re-reads every POLL_SECONDS, so a notice
lost while Redis was unreachable is caught up). When they differ from what it runs, it loads the
new versions in a thread (model_store.load_version: trusted path, manifest = registry record,
checksum), verifies the new Triager on a few messages, and only then swaps the reference the
worker reads; a batch already running finishes on the old models. A version that fails to load
or verify is refused and logged, and the worker keeps what it ran. Each worker writes what it
runs to `models:running`, which /metrics renders as deskgate_model_version{task,version,worker}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from deskgate.models.triage import TriageInput
from deskgate.queue import connection
from deskgate.queue.classifier_registry import DEFAULT, TASKS, ClassifierRegistry
from deskgate.queue.connection import raise_if_cancelled
from deskgate.queue.keys import Keys

if TYPE_CHECKING:   # importing this module (serve, worker setup) must not load spaCy
    from deskgate.triage.engine import Triager

log = logging.getLogger("deskgate.models")

POLL_SECONDS = 30.0
VERIFY_INPUTS = (TriageInput(text="我的订单还没到，已经一周了，请尽快处理"),
                 TriageInput(text="I was charged twice for my order, please refund me",
                             subject="Refund"))

class ModelWatcher:
    def __init__(self, redis_url: str, keys: Keys, data_dir: Path, name: str,
                 base: Triager, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.name = name
        self._keys = keys
        self._data_dir = Path(data_dir)
        self._sync = connection.sync_client(redis_url)
        self._async = connection.async_client(redis_url)
        self._registry = ClassifierRegistry(self._sync, keys)
        self._poll = poll_seconds
        self._triager = base
        self.versions: dict[str, str] = dict.fromkeys(TASKS, DEFAULT)
        self.error = ""
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closing = False

    def __call__(self) -> Triager:
        return self._triager

    async def reconcile(self) -> bool:
        """Load and swap in the current versions if they differ from ours; True on a swap."""
        async with self._lock:
            wanted = await asyncio.to_thread(self._registry.current)
            changed = {t: v for t, v in wanted.items() if self.versions.get(t) != v}
            if changed:
                try:
                    self._triager = await asyncio.to_thread(self._prepare, changed)
                    log.info("%s now runs %s (%s)", self.name, wanted, self._triager.version)
                    self.versions, self.error = dict(wanted), ""
                except (OSError, ValueError) as exc:   # ArtifactError is a ValueError
                    if str(exc) != self.error:
                        log.error("%s refused models %s, keeps running %s: %s", self.name,
                                  changed, self.versions, exc)
                    self.error = str(exc)
            await asyncio.to_thread(self._registry.report_running, self.name, self.versions,
                                    self.error)
            return bool(changed) and not self.error

    def _prepare(self, changed: dict[str, str]) -> Triager:
        from deskgate.gateway.retraining import (
            classifier_store as model_store,  # loads triage (see above)
        )

        records = {}
        for task, version in changed.items():
            record = None if version == DEFAULT else self._registry.get(task, version)
            if record is None and version != DEFAULT:
                raise ValueError(f"{task} version {version} is not registered")
            records[task] = record
        candidate = model_store.with_models(self._triager,
                                            model_store.load_models(self._data_dir, records))
        results = candidate.triage(list(VERIFY_INPUTS))
        if len(results) != len(VERIFY_INPUTS) or any(
                r.model_version != candidate.version or not r.topic for r in results):
            raise ValueError(f"models {changed} failed verification on sample messages")
        return candidate

    async def run(self) -> None:
        while not self._closing:
            try:
                pubsub = await connection.open_pubsub(self._async)
                await pubsub.subscribe(self._keys.models_events)
                await self.reconcile()   # whatever was promoted while we were not listening
                next_poll = time.monotonic() + self._poll
                while not self._closing:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=max(0.1, next_poll - time.monotonic()))
                    if msg is not None or time.monotonic() >= next_poll:
                        await self.reconcile()
                        next_poll = time.monotonic() + self._poll
            except (RedisError, OSError) as exc:
                raise_if_cancelled(exc)
                if self._closing:
                    # redis-py can turn the cancellation of a pending read into a
                    # ConnectionError; without this flag close() would wait forever
                    return
                log.warning("model watcher %s lost Redis (%s); retrying in 1 s", self.name, exc)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await asyncio.to_thread(self._registry.forget_running, self.name)
        await self._async.aclose()
        self._sync.close()


async def start(redis_url: str, keys: Keys, data_dir: Path, name: str, base: Triager, *,
                poll_seconds: float = POLL_SECONDS) -> ModelWatcher:
    """A watcher already running the current versions (so a restarted worker never triages
    with the packaged models first), listening for promotions in the background."""
    watcher = ModelWatcher(redis_url, keys, data_dir, name, base, poll_seconds=poll_seconds)
    with contextlib.suppress(RedisError, OSError):
        await watcher.reconcile()
    watcher._task = asyncio.create_task(watcher.run())
    return watcher
