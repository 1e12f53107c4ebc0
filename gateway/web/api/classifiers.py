"""The admin API for retraining: upload an export, import it, train, follow and cancel jobs,
read versions with their manifests and comparisons, promote and roll back.

    POST /api/v1/models/uploads?name=tickets.csv     raw file body -> {"upload": id}
    POST /api/v1/models/import                       {"upload", "preset", "mapping"} -> job
    POST /api/v1/models/train                        {"task", "source", ...} -> job
    GET  /api/v1/models/jobs[/{job_id}]              status, progress, result, logs
    POST /api/v1/models/jobs/{job_id}/cancel
    GET  /api/v1/models                              current/previous per task, workers, versions
    GET  /api/v1/models/{task}/{version}             manifest + evaluation against the current
    POST /api/v1/models/{task}/{version}/evaluate    re-compare with today's current model -> job
    POST /api/v1/models/{task}/{version}/promote
    POST /api/v1/models/{task}/rollback

Admin only. Uploaded files stay in <data_dir>/uploads (mode 0600): training data never leaves
the installation. rq and the registry are synchronous; handlers call them in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from typing import Any

import msgspec
from aiohttp import web

from deskgate.gateway.appkeys import CONFIG, DATA_DIR, KEYS, REDIS, SYNC_REDIS
from deskgate.gateway.edge import read_chunks, streams_body
from deskgate.gateway.retraining import jobs, uploads
from deskgate.gateway.retraining.importer import PRESETS
from deskgate.gateway.web.auth import principal, requires
from deskgate.gateway.web.body import decode_body
from deskgate.gateway.web.errors import ApiError
from deskgate.gateway.web.scope import ADMIN
from deskgate.models.codec import to_builtins
from deskgate.models.enums import Role
from deskgate.queue.classifier_registry import (
    TASKS,
    ClassifierRegistry,
    RegistryError,
    UnknownVersion,
)
from deskgate.queue.routing import RoutingStore

MAX_UPLOAD_BYTES = 512 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ImportIn(msgspec.Struct, forbid_unknown_fields=True):
    upload: str
    preset: str = "plain"
    mapping: str = ""          # "topic=Category,text=Body"
    source: str = ""           # dedupe namespace; default: the preset's name


class TrainIn(msgspec.Struct, forbid_unknown_fields=True):
    task: str
    source: str = "all"        # tickets | history | all | upload
    upload: str = ""
    text_col: str = "text"
    label_col: str = "label"
    auto_promote: bool = False
    min_support: int = 20
    max_drop: float = 0.005
    classifier: str | None = None


class EvaluateIn(msgspec.Struct, forbid_unknown_fields=True):
    source: str = "all"
    upload: str = ""
    text_col: str = "text"
    label_col: str = "label"
    min_support: int = 20
    max_drop: float = 0.005


def _actor(request: web.Request) -> str:
    who = principal(request)
    return f"{who.role}:{who.label or who.token_id}"


def _registry(request: web.Request) -> ClassifierRegistry:
    return ClassifierRegistry(request.app[SYNC_REDIS], request.app[KEYS])


def _task(request: web.Request) -> str:
    task = request.match_info["task"]
    if task not in TASKS:
        raise ApiError(404, f"unknown task {task!r}; one of {', '.join(TASKS)}", field="task")
    return task


def _policy(min_support: int, max_drop: float) -> dict[str, Any]:
    if not 1 <= min_support <= 100_000 or not 0 <= max_drop <= 1:
        raise ApiError(422, "min_support must be 1-100000 and max_drop 0-1")
    return {"min_support": min_support, "max_drop": max_drop}


async def _enqueue(request: web.Request, kind: str, params: dict[str, Any]) -> web.Response:
    if params.get("upload"):
        try:
            uploads.upload_path(request.app[DATA_DIR], params["upload"])
        except ValueError as exc:
            raise ApiError(404, str(exc), field="upload") from exc
    job_id = await asyncio.to_thread(jobs.enqueue, request.app[SYNC_REDIS], request.app[KEYS], kind,
                         params, _actor(request), request.app[DATA_DIR])
    return web.json_response({"job": job_id, "status": "queued",
                              "href": f"/api/v1/models/jobs/{job_id}"}, status=202)


@requires(Role.ADMIN, policy=ADMIN)
@streams_body
async def upload(request: web.Request) -> web.Response:
    """Upload an export (CSV, TSV or JSONL) as the raw request body; ?name= keeps its suffix."""
    name = _SAFE_NAME.sub("_", os.path.basename(request.query.get("name", "upload.csv")))[-80:]
    if not name.lower().endswith((".csv", ".tsv", ".jsonl", ".ndjson")):
        raise ApiError(422, "name must end in .csv, .tsv or .jsonl", field="name")
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
        raise ApiError(413, f"uploads are limited to {MAX_UPLOAD_BYTES >> 20} MiB")
    folder = request.app[DATA_DIR] / uploads.UPLOADS
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    upload_id = f"{uuid.uuid4().hex[:12]}-{name}"
    path = folder / upload_id
    digest, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in read_chunks(request):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ApiError(413, f"uploads are limited to {MAX_UPLOAD_BYTES >> 20} MiB")
                digest.update(chunk)
                fh.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink()
        raise ApiError(422, "empty upload")
    return web.json_response({"upload": upload_id, "bytes": size, "sha256": digest.hexdigest()},
                             status=201)


@requires(Role.ADMIN, policy=ADMIN)
async def start_import(request: web.Request) -> web.Response:
    """Import an uploaded export of past tickets as labelled history (a job)."""
    body = decode_body(await request.read(), ImportIn)
    if body.preset not in PRESETS:
        raise ApiError(422, f"preset must be one of {', '.join(PRESETS)}", field="preset")
    return await _enqueue(request, "import", to_builtins(body))


@requires(Role.ADMIN, policy=ADMIN)
async def start_training(request: web.Request) -> web.Response:
    """Train a candidate model for a task and compare it with the current one (a job)."""
    body = decode_body(await request.read(), TrainIn)
    if body.task not in TASKS:
        raise ApiError(422, f"task must be one of {', '.join(TASKS)}", field="task")
    if body.source not in ("tickets", "history", "all", "upload"):
        raise ApiError(422, "source must be tickets, history, all or upload", field="source")
    if (body.source == "upload") != bool(body.upload):
        raise ApiError(422, "give an upload exactly when source is upload", field="upload")
    if body.classifier not in (None, "svm", "logreg"):
        raise ApiError(422, "classifier must be svm or logreg", field="classifier")
    params = to_builtins(body)
    params["policy"] = _policy(params.pop("min_support"), params.pop("max_drop"))
    return await _enqueue(request, "train", params)


@requires(Role.ADMIN, policy=ADMIN)
async def evaluate(request: web.Request) -> web.Response:
    """Compare a version with the current model on the held-out split of a source (a job)."""
    task = _task(request)
    body = decode_body(await request.read(), EvaluateIn)
    params = {**to_builtins(body), "task": task, "version": request.match_info["version"]}
    params["policy"] = _policy(params.pop("min_support"), params.pop("max_drop"))
    if await asyncio.to_thread(_registry(request).get, task, params["version"]) is None:
        raise ApiError(404, f"no {task} version {params['version']}")
    return await _enqueue(request, "evaluate", params)


@requires(Role.ADMIN, policy=ADMIN)
async def list_jobs(request: web.Request) -> web.Response:
    """Recent import/train/evaluate jobs, newest first."""
    return web.json_response({"jobs": await asyncio.to_thread(jobs.list_jobs, request.app[SYNC_REDIS],
                                                  request.app[KEYS])})


@requires(Role.ADMIN, policy=ADMIN)
async def get_job(request: web.Request) -> web.Response:
    """A job's status, progress, result or error, and its log."""
    try:
        view = await asyncio.to_thread(lambda: jobs.job_view(
            request.app[SYNC_REDIS], request.app[KEYS], request.match_info["job_id"], logs=True))
    except LookupError as exc:
        raise ApiError(404, str(exc)) from exc
    return web.json_response(view)


@requires(Role.ADMIN, policy=ADMIN)
async def cancel_job(request: web.Request) -> web.Response:
    """Cancel a queued job or stop a running one; the current model is never touched."""
    try:
        status = await asyncio.to_thread(jobs.cancel, request.app[SYNC_REDIS], request.app[KEYS],
                             request.match_info["job_id"])
    except LookupError as exc:
        raise ApiError(404, str(exc)) from exc
    return web.json_response({"job": request.match_info["job_id"], "status": status})


def _summary(record: Any) -> dict[str, Any]:
    out = record.fields()
    out["manifest"] = msgspec.json.decode(record.manifest)
    evaluation = msgspec.json.decode(record.evaluation)
    out["evaluation"] = {k: evaluation[k] for k in ("test_rows", "policy", "new_labels")
                         if k in evaluation}
    for side in ("current", "candidate"):
        if side in evaluation:
            out["evaluation"][side] = {k: evaluation[side][k]
                                       for k in ("model", "accuracy", "macro_f1")}
    return out


@requires(Role.ADMIN, policy=ADMIN)
async def list_models(request: web.Request) -> web.Response:
    """Per task: the current and previous version, every registered version with its manifest,
    and the version each worker runs."""
    reg = _registry(request)

    def read() -> dict[str, Any]:
        return {"current": reg.current(), "previous": reg.previous(), "running": reg.running(),
                "versions": {t: [_summary(r) for r in reg.list(t)] for t in TASKS}}

    return web.json_response(await asyncio.to_thread(read))


@requires(Role.ADMIN, policy=ADMIN)
async def get_model(request: web.Request) -> web.Response:
    """One version: manifest, who trained/promoted it, and the full comparison with the model
    that was current when it was evaluated (per-class scores, confusion, calibration,
    disagreements, policy)."""
    task = _task(request)
    record = await asyncio.to_thread(_registry(request).get, task, request.match_info["version"])
    if record is None:
        raise ApiError(404, f"no {task} version {request.match_info['version']}")
    return web.json_response(record.fields() | {
        "manifest": msgspec.json.decode(record.manifest),
        "evaluation": msgspec.json.decode(record.evaluation)})


async def routing_gaps(request: web.Request, labels: list[str]) -> list[str]:
    """Topics the live routing rules name that the model cannot predict (those rules stop
    firing)."""
    table = await RoutingStore(request.app[REDIS], request.app[KEYS],
                               request.app[CONFIG].routing).current()
    return sorted({t for rule in table.rules for t in rule.topics} - set(labels))


@requires(Role.ADMIN, policy=ADMIN)
async def promote(request: web.Request) -> web.Response:
    """Make a version the current model of its task; every worker switches without restart."""
    task = _task(request)
    reg = _registry(request)
    version = request.match_info["version"]
    try:
        switch = await asyncio.to_thread(reg.promote, task, version, _actor(request))
    except RegistryError as exc:
        raise ApiError(404 if isinstance(exc, UnknownVersion) else 409, str(exc)) from exc
    out = to_builtins(switch)
    if task == "topic":
        record = await asyncio.to_thread(reg.get, task, version)
        if record is not None:
            labels = msgspec.json.decode(record.manifest).get("labels", [])
            out["unrouted_topics"] = await routing_gaps(request, labels)
    return web.json_response(out)


@requires(Role.ADMIN, policy=ADMIN)
async def rollback(request: web.Request) -> web.Response:
    """Return a task to the version that was current before the last promote or rollback."""
    task = _task(request)
    try:
        switch = await asyncio.to_thread(_registry(request).rollback, task, _actor(request))
    except RegistryError as exc:
        raise ApiError(409, str(exc)) from exc
    return web.json_response(to_builtins(switch))
