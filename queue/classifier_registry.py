"""The model registry's Redis side: which versions exist, which one each task runs, who
trained and promoted them, and what every worker actually runs.

Artifacts (weights + manifest) are files under <data_dir>/models/<task>/<version>/ (see
gateway/retraining/classifier_store.py); Redis holds their metadata and the pointers. A promote or rollback is
one Lua script (lua/model_switch.lua) that moves the pointers, records who and when, audits,
and PUBLISHes on `models:events`; workers then re-read `models:current` (the notice is only a
wake-up call, so a missed notice is caught by their periodic re-read).

Also here: the journal of retraining/import jobs (log lines, cancellation flag), which the rq
job writes and the API reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import msgspec
import redis

from deskgate.models.learning import EMPTY, ModelVersion
from deskgate.queue.keys import Keys
from deskgate.queue.replies import hash_reply
from deskgate.queue.replies import text as _s
from deskgate.queue.scripts import lua

TASKS = ("topic", "priority", "sentiment", "risk")
DEFAULT = "default"             # the packaged model of a task
RUNNING_STALE_SECONDS = 120     # a worker silent this long is no longer listed as running
JOB_LOG_TTL = 30 * 24 * 3600
JOB_LOG_MAX = 5000


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message says why."""


class UnknownVersion(RegistryError):
    """No such version is registered for the task."""


class Switch(msgspec.Struct, frozen=True):
    task: str
    previous: str
    current: str



def check_task(task: str) -> str:
    if task not in TASKS:
        raise RegistryError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    return task


class ClassifierRegistry:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._switch = client.register_script(lua("model_switch"))

    def register(self, task: str, version: str, *, path: str, sha256: str, created: str,
                 manifest_json: bytes, trained_by: str, job_id: str = "",
                 evaluation: Mapping[str, Any] | None = None) -> None:
        """Record a saved artifact as a candidate. Idempotent: re-registering a version (a
        retried job) rewrites the same fields."""
        check_task(task)
        now = time.time()
        with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.model(task, version), mapping={
                "task": task, "version": version, "path": path, "sha256": sha256,
                "created": created, "trained_by": trained_by, "trained_at": now,
                "job_id": job_id, "manifest": manifest_json,
                "evaluation": json.dumps(evaluation or {}, ensure_ascii=False)})
            pipe.zadd(self._k.models(task), {version: now})
            pipe.execute()

    def set_evaluation(self, task: str, version: str, evaluation: Mapping[str, Any]) -> None:
        if not self._r.exists(self._k.model(task, version)):
            raise RegistryError(f"no {task} version {version}")
        self._r.hset(self._k.model(task, version), "evaluation",
                     json.dumps(evaluation, ensure_ascii=False))

    def get(self, task: str, version: str) -> ModelVersion | None:
        check_task(task)
        f = self._r.hgetall(self._k.model(task, version))
        if not f:
            return None
        return self._record(hash_reply(f), self.current(), self.previous())

    def list(self, task: str, limit: int = 100) -> list[ModelVersion]:
        """Newest first."""
        check_task(task)
        versions = self._r.zrevrange(self._k.models(task), 0, limit - 1)
        with self._r.pipeline(transaction=False) as pipe:
            for v in versions:
                pipe.hgetall(self._k.model(task, _s(v)))
            hashes = pipe.execute()
        cur, prev = self.current(), self.previous()
        return [self._record(h, cur, prev) for h in hashes if h]

    def _record(self, f: dict[bytes, bytes], current: dict[str, str],
                previous: dict[str, str]) -> ModelVersion:
        d = {_s(k): v for k, v in f.items()}
        task, version = _s(d["task"]), _s(d["version"])
        state = ("current" if current.get(task) == version
                 else "previous" if previous.get(task) == version else "candidate")
        return ModelVersion(
            task=task, version=version, path=_s(d.get("path")), sha256=_s(d.get("sha256")),
            created=_s(d.get("created")), trained_by=_s(d.get("trained_by")),
            trained_at=float(d.get("trained_at") or 0), job_id=_s(d.get("job_id")),
            promoted_by=_s(d.get("promoted_by")), promoted_at=float(d.get("promoted_at") or 0),
            retired_by=_s(d.get("retired_by")), retired_at=float(d.get("retired_at") or 0),
            state=state, manifest=msgspec.Raw(d.get("manifest") or b"{}"),
            evaluation=msgspec.Raw(d.get("evaluation") or b"{}") if d.get("evaluation") else EMPTY)

    def current(self) -> dict[str, str]:
        """task -> version to run; a task missing here runs its packaged model."""
        raw = self._r.hgetall(self._k.models_current)
        return {t: _s(raw.get(t.encode())) or DEFAULT for t in TASKS}

    def previous(self) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self._r.hgetall(self._k.models_previous).items()}

    def promote(self, task: str, version: str, actor: str) -> Switch:
        return self._run_switch("promote", check_task(task), version, actor)

    def rollback(self, task: str, actor: str) -> Switch:
        return self._run_switch("rollback", check_task(task), "", actor)

    def _run_switch(self, op: str, task: str, version: str, actor: str) -> Switch:
        outcome, *rest = self._switch(keys=[self._k.models_current], args=[
            self._k.p, op, task, version, actor, time.time()])
        outcome = _s(outcome)
        if outcome == "unknown":
            raise UnknownVersion(f"no {task} version {version}; see `deskgate models list`")
        if outcome == "same":
            raise RegistryError(f"{version} is already the current {task} model")
        if outcome == "none":
            raise RegistryError(f"no previous {task} model to roll back to")
        return Switch(task, _s(rest[0]), _s(rest[1]))

    # What each worker runs, for /metrics and `models list`.
    def report_running(self, worker: str, versions: Mapping[str, str], error: str = "") -> None:
        self._r.hset(self._k.models_running, worker, json.dumps(
            {"versions": dict(versions), "at": time.time(), "error": error}))

    def forget_running(self, worker: str) -> None:
        self._r.hdel(self._k.models_running, worker)

    def running(self) -> dict[str, dict[str, Any]]:
        return parse_running(hash_reply(self._r.hgetall(self._k.models_running)), time.time())


def parse_running(raw: Mapping[bytes, bytes], now: float) -> dict[str, dict[str, Any]]:
    """`models:running` -> worker -> {versions, at, error}, for workers heard from recently."""
    out = {}
    for k, v in raw.items():
        info = json.loads(v)
        if now - float(info.get("at", 0)) <= RUNNING_STALE_SECONDS:
            out[_s(k)] = info
    return out


class JobJournal:
    """Log lines and the cancellation flag of one retraining/import job."""

    def __init__(self, client: redis.Redis, keys: Keys, job_id: str) -> None:
        self._r = client
        self._log = keys.model_job_log(job_id)
        self._cancel = keys.model_job_cancel(job_id)

    def log(self, line: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._r.pipeline(transaction=False) as pipe:
            pipe.rpush(self._log, f"{stamp} {line}")
            pipe.ltrim(self._log, -JOB_LOG_MAX, -1)
            pipe.expire(self._log, JOB_LOG_TTL)
            pipe.execute()

    def lines(self) -> list[str]:
        return [_s(x) for x in self._r.lrange(self._log, 0, -1)]

    def request_cancel(self) -> None:
        self._r.set(self._cancel, "1", ex=JOB_LOG_TTL)

    def cancel_requested(self) -> bool:
        return bool(self._r.exists(self._cancel))
