"""Retraining as background jobs (rq): import past tickets, train a candidate, evaluate it
against the current model, and promote it only when an admin says so or the policy holds.

    job_id = enqueue(client, keys, "train", {"task": "topic", "source": "all"}, "admin:ab12")

Jobs run in `deskgate retraining-worker` (started by `deskgate serve` as a child process): a forking rq
Worker, so that cancelling a running job (rq's stop-job command) kills its work horse outright
instead of waiting for scikit-learn to return. Jobs are serialized as JSON, never pickled.

Safety: a job writes its artifact under a temporary name and registers it as a *candidate*
only when complete; the current model changes only through ClassifierRegistry.promote, which the
job calls last, and only with auto_promote set, the policy passing and no cancellation asked
for. So a job that fails, is cancelled or is killed leaves the current model as it was.

The pipeline itself (data, split, training, comparison, policy) is gateway/retraining/pipeline.py,
imported inside the job functions: the HTTP process enqueues and reads jobs without loading
spaCy and scikit-learn.
"""

from __future__ import annotations

import logging
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import redis
from redis.cluster import RedisCluster
from rq import Queue, get_current_job
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from deskgate.gateway.retraining.importer import ImportFileError, import_file, parse_mapping
from deskgate.gateway.retraining.uploads import upload_path
from deskgate.models.codec import to_builtins
from deskgate.models.errors import Unavailable
from deskgate.queue import connection
from deskgate.queue.classifier_registry import (
    ClassifierRegistry,
    JobJournal,
    RegistryError,
    check_task,
)
from deskgate.queue.history import History
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV

log = logging.getLogger("deskgate.jobs")

KINDS = ("import", "train", "evaluate")
JOB_TIMEOUT = 2 * 3600          # 200k tickets train in minutes; this only catches a hang
RESULT_TTL = 30 * 24 * 3600


class JobCancelled(RuntimeError):
    """The admin cancelled the job; raised at the next checkpoint."""


# ---------------------------------------------------------------------------------------------
# rq plumbing


JOBS_REDIS_URL_ENV = "DESKGATE_JOBS_REDIS_URL"
CLUSTER_REFUSAL = (f"retraining jobs need a single Redis server for rq beside a Redis Cluster: set "
                   f"{JOBS_REDIS_URL_ENV} (docs/cluster.md, \"Background jobs\")")


@cache
def _jobs_redis(url: str) -> redis.Redis:
    return connection.sync_client(url)


def rq_connection(client: redis.Redis) -> redis.Redis:
    """Where rq keeps its queue, jobs and workers: the Redis of DESKGATE_JOBS_REDIS_URL when it
    is set, else the deployment's own. rq's worker cannot use a cluster client, and rq names
    its keys itself (no hash tag), so beside a cluster rq needs a server of its own; Deskgate's
    keys (the job list, logs, cancel flags, what a job writes) stay in `client`'s Redis."""
    url = os.environ.get(JOBS_REDIS_URL_ENV)
    if url:
        return _jobs_redis(url)
    if isinstance(client, RedisCluster):
        raise Unavailable(CLUSTER_REFUSAL)
    return client


def job_queue(client: redis.Redis, keys: Keys, *, is_async: bool = True) -> Queue:
    return Queue(keys.models_queue, connection=rq_connection(client), serializer=JSONSerializer,
                 is_async=is_async, default_timeout=JOB_TIMEOUT)


def enqueue(client: redis.Redis, keys: Keys, kind: str, params: dict[str, Any],
            requested_by: str, data_dir: Path, *, inline: bool = False) -> str:
    """Queue a job (`inline`: run it here and now, for the CLI without a running worker)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = job_queue(client, keys, is_async=not inline).enqueue(
        f"deskgate.gateway.retraining.jobs.{kind}_job", kwargs={
            "prefix": keys.p, "data_dir": str(data_dir), "params": params,
            "requested_by": requested_by},
        result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL,
        meta={"kind": kind, "params": params, "requested_by": requested_by,
              "progress": {"stage": "queued", "percent": 0}},
        description=f"{kind} {params.get('task', params.get('upload', ''))}".strip())
    client.zadd(keys.model_jobs, {job.id: time.time()})
    return job.id


def job_view(client: redis.Redis, keys: Keys, job_id: str, *, logs: bool = False) -> dict[str, Any]:
    try:
        job = Job.fetch(job_id, connection=rq_connection(client), serializer=JSONSerializer)
    except NoSuchJobError as exc:
        raise LookupError(f"no job {job_id}") from exc
    status = job.get_status(refresh=True)
    journal = JobJournal(client, keys, job_id)
    view: dict[str, Any] = {
        "id": job.id, "kind": job.meta.get("kind"), "status": str(status.value if status else ""),
        "params": job.meta.get("params", {}), "requested_by": job.meta.get("requested_by", ""),
        "progress": job.meta.get("progress", {}),
        "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
        "cancel_requested": journal.cancel_requested(),
    }
    if status is JobStatus.FINISHED:
        view["result"] = job.return_value()
    elif status is JobStatus.FAILED:
        exc_info = job.latest_result().exc_string if job.latest_result() else ""
        view["error"] = (exc_info or "").strip().splitlines()[-1] if exc_info else "failed"
    if logs:
        view["logs"] = journal.lines()
    return view


def list_jobs(client: redis.Redis, keys: Keys, limit: int = 50) -> list[dict[str, Any]]:
    ids = [x.decode() for x in client.zrevrange(keys.model_jobs, 0, limit - 1)]
    out = []
    for job_id in ids:
        try:
            out.append(job_view(client, keys, job_id))
        except LookupError:
            client.zrem(keys.model_jobs, job_id)   # expired from rq
    return out


def cancel(client: redis.Redis, keys: Keys, job_id: str) -> str:
    """Cancel a queued job, or stop a running one (its horse is killed; nothing it made is
    promoted). Returns the job's status afterwards."""
    try:
        job = Job.fetch(job_id, connection=rq_connection(client), serializer=JSONSerializer)
    except NoSuchJobError as exc:
        raise LookupError(f"no job {job_id}") from exc
    JobJournal(client, keys, job_id).request_cancel()
    status = job.get_status(refresh=True)
    if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
        job.cancel()
    elif status is JobStatus.STARTED:
        try:
            send_stop_job_command(rq_connection(client), job_id, serializer=JSONSerializer)
        except InvalidJobOperation:
            pass  # between dequeue and start: the flag stops it at its first checkpoint
    JobJournal(client, keys, job_id).log(
        f"cancellation requested (status was {status.value if status else 'unknown'})")
    after = job.get_status(refresh=True)
    return after.value if after else "unknown"


class _Run:
    """What a running job uses: its Redis, keys, data dir, journal, progress and checkpoints."""

    def __init__(self, prefix: str, data_dir: str) -> None:
        job = get_current_job()
        assert job is not None, "job functions run inside rq"
        self.job = job
        # beside a cluster, rq's Redis is not the deployment's: the retraining worker is
        # started with the deployment's in DESKGATE_REDIS_URL
        self.client: redis.Redis = (connection.sync_client(os.environ[REDIS_URL_ENV])
                                    if os.environ.get(JOBS_REDIS_URL_ENV) else job.connection)
        self.keys = Keys(prefix)
        self.data_dir = Path(data_dir)
        self.journal = JobJournal(self.client, self.keys, job.id)

    def stage(self, name: str, percent: int, message: str = "") -> None:
        self.checkpoint()
        self.job.meta["progress"] = {"stage": name, "percent": percent}
        self.job.save_meta()
        self.journal.log(f"[{percent:3d}%] {name}{': ' + message if message else ''}")
        log.info("job %s: %s %s", self.job.id, name, message)

    def checkpoint(self) -> None:
        if self.journal.cancel_requested():
            self.journal.log("cancelled")
            raise JobCancelled(f"job {self.job.id} cancelled")



def train_job(prefix: str, data_dir: str, params: dict[str, Any],
              requested_by: str) -> dict[str, Any]:
    from deskgate.gateway.retraining import (
        classifier_store,  # heavy
        pipeline,
    )

    run = _Run(prefix, data_dir)
    task = check_task(params.get("task", ""))
    registry = ClassifierRegistry(run.client, run.keys)
    policy = msgspec.convert(params.get("policy") or {}, pipeline.Policy)
    train_params = {k: params[k] for k in ("classifier", "C") if params.get(k) is not None}
    run.stage("loading data", 2, f"task {task}, source {params.get('source', 'all')}")
    classifier_store.remove_stale_tmp(run.data_dir)
    rows, used = pipeline.examples(run.client, run.keys, run.data_dir, task, params)
    run.journal.log(f"{len(rows)} labelled rows; {used}")
    current = pipeline.current_model(registry, run.data_dir, task)
    candidate, comparison = pipeline.retrain(
        task, rows, current, pipeline.shared_pipelines(), stage=run.stage, policy=policy,
        source=f"{used['source']} {used['rows_by_source']} (corrected by agents: "
               f"{used['corrected_by_agents']}), by {requested_by}", params=train_params)
    comparison["data"] = used
    run.stage("saving", 92)
    manifest, rel, manifest_bytes = classifier_store.save_version(candidate, run.data_dir)
    registry.register(task, manifest.version, path=rel, sha256=manifest.sha256,
                      created=manifest.created, manifest_json=manifest_bytes,
                      trained_by=requested_by, job_id=run.job.id, evaluation=comparison)
    result = {"task": task, "version": manifest.version, "promoted": False,
              "policy": comparison["policy"],
              "candidate": _headline(comparison["candidate"]),
              "current": _headline(comparison["current"])}
    if params.get("auto_promote"):
        run.stage("promoting", 97)
        if comparison["policy"]["passes"]:
            registry.promote(task, manifest.version,
                             f"policy (job {run.job.id} by {requested_by})")
            result["promoted"] = True
        else:
            run.journal.log("not promoted: " + "; ".join(comparison["policy"]["failures"]))
    run.stage("done", 100, f"{manifest.version}{' promoted' if result['promoted'] else ''}")
    return result


def _headline(rep: dict[str, Any]) -> dict[str, Any]:
    return {"model": rep["model"], "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
            "ece": rep["calibration"]["ece"]}


def evaluate_job(prefix: str, data_dir: str, params: dict[str, Any],
                 requested_by: str) -> dict[str, Any]:
    """Compare a registered version with the current model on the held-out split of a source
    (after the current model or the data changed since it was trained)."""
    from deskgate.gateway.retraining import (
        classifier_store,  # heavy
        pipeline,
    )

    run = _Run(prefix, data_dir)
    task = check_task(params.get("task", ""))
    registry = ClassifierRegistry(run.client, run.keys)
    record = registry.get(task, params.get("version", ""))
    if record is None:
        raise RegistryError(f"no {task} version {params.get('version')!r}")
    run.stage("loading data", 5)
    rows, used = pipeline.examples(run.client, run.keys, run.data_dir, task, params)
    _, test_rows = pipeline.split(rows)
    candidate = classifier_store.load_version(run.data_dir, record)
    run.stage("evaluating", 40, f"{len(test_rows)} held-out rows")
    comparison = pipeline.compare(candidate, pipeline.current_model(registry, run.data_dir, task), test_rows,
                       pipeline.shared_pipelines(),
                       msgspec.convert(params.get("policy") or {}, pipeline.Policy))
    comparison["data"] = used
    registry.set_evaluation(task, record.version, comparison)
    run.stage("done", 100)
    return {"task": task, "version": record.version, "policy": comparison["policy"],
            "candidate": _headline(comparison["candidate"]),
            "current": _headline(comparison["current"])}


def import_job(prefix: str, data_dir: str, params: dict[str, Any],
               requested_by: str) -> dict[str, Any]:
    run = _Run(prefix, data_dir)
    path = upload_path(run.data_dir, params.get("upload", ""))
    run.stage("importing", 1, f"{path.name}, preset {params.get('preset', 'plain')}")
    total = max(1, path.read_bytes().count(b"\n"))

    def checkpoint(rows: int) -> None:
        run.checkpoint()
        run.job.meta["progress"] = {"stage": "importing", "percent": min(99, 100 * rows // total),
                                    "rows": rows}
        run.job.save_meta()

    try:
        report = import_file(path, History(run.client, run.keys),
                             preset=params.get("preset", "plain"),
                             mapping=parse_mapping(params.get("mapping", "")),
                             source=params.get("source", ""), checkpoint=checkpoint)
    except ImportFileError as exc:
        run.journal.log(f"failed: {exc}")
        raise
    run.stage("done", 100, f"{report.imported} imported, {report.duplicates} duplicates, "
                           f"{report.errors} bad rows")
    return to_builtins(report)

