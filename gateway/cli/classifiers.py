"""`deskgate classifiers …` (import past tickets, retrain, compare, promote, roll back, follow jobs)
and `deskgate retraining-worker` (the rq worker that runs retraining and import jobs; `serve` starts one).

    deskgate classifiers import export.csv --preset zendesk --map topic=Category
    deskgate classifiers train --task topic [--source all|tickets|history] [--file F] [--auto-promote]
    deskgate classifiers list [--task topic]
    deskgate classifiers compare topic VERSION [--rerun]
    deskgate classifiers promote topic VERSION
    deskgate classifiers rollback topic
    deskgate classifiers jobs [JOB] [--cancel]
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import redis
from tqdm import tqdm

from deskgate.gateway.cli.common import add_common, config, data_dir, id_arg, sync_redis
from deskgate.gateway.config import ConfigError
from deskgate.gateway.retraining import jobs, uploads
from deskgate.gateway.retraining.importer import (
    PRESETS,
    ImportCancelled,
    ImportFileError,
    describe_columns,
    import_file,
    parse_mapping,
)
from deskgate.models.codec import to_builtins
from deskgate.models.ids import MODEL_VERSION
from deskgate.queue import connection
from deskgate.queue.classifier_registry import TASKS, ClassifierRegistry, RegistryError
from deskgate.queue.history import History
from deskgate.queue.keys import Keys
from deskgate.queue.redis_server import REDIS_URL_ENV, redis_url_for

log = logging.getLogger("deskgate.jobs")

FINAL = ("finished", "failed", "stopped", "canceled")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _fail(message: str) -> int:
    print(f"deskgate classifiers: {message}", file=sys.stderr)
    return 2


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def cmd_import(args: argparse.Namespace) -> int:
    out = sys.stderr if args.json else sys.stdout
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.yes

    def confirm(columns: dict[str, str], header: list[str]) -> bool:
        # Shown before anything is stored: a wrong column is cheap to fix now, not after a
        # retrain has learnt it. Without a terminal (scripts, CI) the import proceeds.
        print(f"{args.file.name}: columns -> fields", file=out)
        for line in describe_columns(columns, header, mapping):
            print(line, file=out)
        if not interactive:
            return True
        print("import with these columns? [y/N] ", end="", file=sys.stderr, flush=True)
        try:
            answer = input()
        except EOFError:
            answer = ""
        return answer.strip().lower() in ("y", "yes")

    try:
        mapping = parse_mapping(args.map)
        with sync_redis(args) as (client, keys):
            report = import_file(args.file, History(client, keys), preset=args.preset,
                                 mapping=mapping, source=args.source,
                                 progress=sys.stderr.isatty() and not args.json,
                                 confirm=confirm)
    except ImportCancelled as exc:
        print(exc, file=sys.stderr)
        return 1
    except ImportFileError as exc:
        return _fail(str(exc))
    if args.json:
        _print_json(to_builtins(report))
        return 0
    print(f"{report.rows} rows: {report.imported} imported, {report.duplicates} already there "
          f"(same {report.source} ticket id), {report.errors} rejected")
    print("columns: " + ", ".join(f"{f}={c}" for f, c in report.columns.items()))
    for task, counts in report.label_counts.items():
        print(f"{task}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for err in report.error_rows[:args.show_errors]:
        print(f"  row {err.row}: {err.message}")
    if report.errors > args.show_errors:
        print(f"  … {report.errors - args.show_errors} more (--json lists up to "
              f"{len(report.error_rows)})")
    return 0


def _stage_file(path: Path, ddir: Path) -> str:
    """Copy a local file into <data_dir>/uploads (0600), where every job worker reads it."""
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    folder = ddir / uploads.UPLOADS
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    upload_id = f"{uuid.uuid4().hex[:12]}-{path.name}"
    fd = os.open(folder / upload_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, path.open("rb") as src:
        shutil.copyfileobj(src, out)
    return upload_id


def _run_job(args: argparse.Namespace, kind: str, params: dict[str, Any],
             show: Callable[[dict[str, Any]], None]) -> int:
    ddir = data_dir(args)
    with sync_redis(args) as (client, keys):
        if not args.inline and not _workers_listening(client, keys):
            print("note: no `deskgate retraining-worker` worker is running (`deskgate serve` starts one); the "
                  "job waits in the queue until one does. --inline runs it here.",
                  file=sys.stderr)
        job_id = jobs.enqueue(client, keys, kind, params, _actor(), ddir, inline=args.inline)
        if args.no_wait:
            print(job_id)
            return 0
        view = _wait(client, keys, job_id)
    if args.json:
        _print_json(view)
    elif view["status"] == "finished":
        show(view["result"])
    else:
        print(f"job {job_id} {view['status']}: {view.get('error', '')}", file=sys.stderr)
    return 0 if view["status"] == "finished" else 1


def _workers_listening(client: redis.Redis, keys: Keys) -> bool:
    from rq import Worker  # only here

    return bool(Worker.all(queue=jobs.job_queue(client, keys)))


def _wait(client: redis.Redis, keys: Keys, job_id: str) -> dict[str, Any]:
    bar = tqdm(total=100, unit="%", disable=not sys.stderr.isatty(), desc="queued")
    try:
        while True:
            view = jobs.job_view(client, keys, job_id)
            progress = view.get("progress") or {}
            bar.set_description(progress.get("stage", view["status"]))
            bar.update(max(0, int(progress.get("percent", 0)) - bar.n))
            if view["status"] in FINAL:
                return jobs.job_view(client, keys, job_id, logs=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"\njob {job_id} goes on in the background: `deskgate classifiers jobs {job_id}`; "
              f"cancel with --cancel", file=sys.stderr)
        raise
    finally:
        bar.close()


def _show_training(result: dict[str, Any]) -> None:
    cur, cand = result["current"], result["candidate"]
    print(f"candidate {result['version']}")
    print(f"  accuracy {cand['accuracy']:.4f}  macro-F1 {cand['macro_f1']:.4f}  ECE "
          f"{cand['ece']:.4f}")
    print(f"current   {cur['model']}")
    print(f"  accuracy {cur['accuracy']:.4f}  macro-F1 {cur['macro_f1']:.4f}  ECE "
          f"{cur['ece']:.4f}")
    policy = result["policy"]
    print("policy: " + ("passes" if policy["passes"] else "fails: " + "; ".join(
        policy["failures"])))
    if result.get("promoted"):
        print("promoted: every worker switches to it now")
    else:
        print(f"not promoted; details: deskgate classifiers compare {result['task']} "
              f"{result['version']}; promote: deskgate classifiers promote {result['task']} "
              f"{result['version']}")


def _train_params(args: argparse.Namespace, ddir: Path) -> dict[str, Any]:
    params: dict[str, Any] = {
        "task": args.task, "source": "upload" if args.file else args.source,
        "auto_promote": args.auto_promote, "text_col": args.text_col,
        "label_col": args.label_col or args.task,
        "policy": {"min_support": args.min_support, "max_drop": args.max_drop}}
    if args.file:
        params["upload"] = _stage_file(args.file, ddir)
    if args.classifier:
        params["classifier"] = args.classifier
    return params


def cmd_train(args: argparse.Namespace) -> int:
    try:
        params = _train_params(args, data_dir(args))
    except OSError as exc:
        return _fail(str(exc))
    return _run_job(args, "train", params, _show_training)


def cmd_list(args: argparse.Namespace) -> int:
    with sync_redis(args) as (client, keys):
        reg = ClassifierRegistry(client, keys)
        tasks = [args.task] if args.task else list(TASKS)
        listing = {t: reg.list(t) for t in tasks}
        current, running = reg.current(), reg.running()
    if args.json:
        _print_json({"current": current, "running": running,
                     "versions": {t: [r.fields() | {"manifest": msgspec.json.decode(
                         r.manifest)} for r in rs] for t, rs in listing.items()}})
        return 0
    for task in tasks:
        print(f"{task}: current {current[task]}")
        for r in listing[task]:
            man = msgspec.json.decode(r.manifest)
            ev = msgspec.json.decode(r.evaluation)
            f1 = ev.get("candidate", {}).get("macro_f1")
            print(f"  {'*' if r.state == 'current' else ' '} {r.version}  {r.state:<9} "
                  f"rows {man.get('data', {}).get('rows', '?'):>7}  "
                  f"held-out macro-F1 {f1 if f1 is not None else '-'}  "
                  f"by {r.trained_by}{'  promoted by ' + r.promoted_by if r.promoted_by else ''}")
    for worker, info in sorted(running.items()):
        print(f"worker {worker}: " + ", ".join(f"{t} {v}" for t, v in info["versions"].items())
              + (f"  (refused: {info['error']})" if info.get("error") else ""))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    if args.rerun:
        params = {"task": args.task, "version": args.version, "source": args.source,
                  "policy": {"min_support": args.min_support, "max_drop": args.max_drop}}
        code = _run_job(args, "evaluate", params, lambda _result: None)
        if code or args.json:
            return code
    with sync_redis(args) as (client, keys):
        try:
            record = ClassifierRegistry(client, keys).get(args.task, args.version)
        except RegistryError as exc:
            return _fail(str(exc))
    if record is None:
        return _fail(f"no {args.task} version {args.version}")
    evaluation = msgspec.json.decode(record.evaluation)
    if args.json:
        _print_json(evaluation)
        return 0
    if not evaluation:
        return _fail("no comparison recorded; run with --rerun")
    show_comparison(evaluation)
    return 0


def show_comparison(ev: dict[str, Any]) -> None:
    from deskgate.triage.evaluation import format_report  # loads sklearn

    print(f"held-out rows: {ev['test_rows']} ({ev['split']})")
    for side in ("current", "candidate"):
        print(f"\n== {side} ==")
        format_report(ev[side])
        print(f"calibration: ECE {ev[side]['calibration']['ece']:.4f}")
    if ev.get("new_labels"):
        print(f"\nnew labels: {', '.join(ev['new_labels'])}")
    print(f"\nthe two disagree on {ev['disagreements']} rows; examples:")
    for d in ev["disagreement_examples"][:15]:
        text = d["text"].replace("\n", " ")[:90]
        print(f"  truth {d['label']:<12} current {d['current']:<12} candidate "
              f"{d['candidate']:<12} {text}")
    policy = ev["policy"]
    print("\npolicy (min_support {min_support}, max_drop {max_drop}): ".format(**policy)
          + ("passes" if policy["passes"] else "fails: " + "; ".join(policy["failures"])))


def cmd_promote(args: argparse.Namespace) -> int:
    with sync_redis(args) as (client, keys):
        try:
            switch = ClassifierRegistry(client, keys).promote(args.task, args.version, _actor())
        except RegistryError as exc:
            return _fail(str(exc))
    print(f"{args.task}: {switch.previous} -> {switch.current}; workers switch now "
          f"(check: deskgate classifiers list)")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    with sync_redis(args) as (client, keys):
        try:
            switch = ClassifierRegistry(client, keys).rollback(args.task, _actor())
        except RegistryError as exc:
            return _fail(str(exc))
    print(f"{args.task}: {switch.previous} -> {switch.current}")
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    with sync_redis(args) as (client, keys):
        try:
            if args.job and args.cancel:
                print(f"{args.job}: {jobs.cancel(client, keys, args.job)}")
                return 0
            if args.job:
                view = jobs.job_view(client, keys, args.job, logs=True)
                if args.json:
                    _print_json(view)
                else:
                    print(f"{view['id']} {view['kind']} {view['status']} "
                          f"{view.get('progress', {})} {view.get('error', '')}")
                    print("\n".join(view.get("logs", [])))
                return 0
            views = jobs.list_jobs(client, keys)
        except LookupError as exc:
            return _fail(str(exc))
    if args.json:
        _print_json(views)
    for v in [] if args.json else views:
        print(f"{v['id']}  {v['kind']:<8} {v['status']:<9} {v['enqueued_at']}  "
              f"{v['requested_by']}  {v.get('error', '')}")
    return 0


def cmd_jobs_worker(args: argparse.Namespace) -> int:
    """The rq worker for retraining/import jobs (forking: a stopped job's horse is killed)."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    cfg = config(args)
    with redis_url_for(data_dir(args), cfg.redis_url) as url:
        if connection.is_cluster(url) and not os.environ.get(jobs.JOBS_REDIS_URL_ENV):
            raise ConfigError(jobs.CLUSTER_REFUSAL)
        os.environ.setdefault(REDIS_URL_ENV, url)   # the job reads the deployment's Redis here
        client = connection.sync_client(url)
        keys = cfg.keys()
        worker = Worker([jobs.job_queue(client, keys)], connection=jobs.rq_connection(client),
                        serializer=JSONSerializer,
                        name=f"deskgate-jobs:{socket.gethostname()}:{os.getpid()}")
        log.info("job worker %s listening on %s", worker.name, keys.models_queue)
        worker.work(logging_level="DEBUG" if args.verbose else "INFO")
    return 0


def _policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-support", type=int, default=20,
                   help="the policy judges classes with at least this many held-out rows")
    p.add_argument("--max-drop", type=float, default=0.005,
                   help="largest F1 drop the policy tolerates (0.005 = half a point)")


JSON_HELP = "print the result as one JSON object"


def _job_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-wait", action="store_true", help="print the job id and return")
    p.add_argument("--inline", action="store_true",
                   help="run the job in this process instead of a `deskgate retraining-worker` worker")
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def add_commands(sub: argparse._SubParsersAction) -> None:
    # "models" was this group's name before ML things were called classifiers; it still works.
    models = sub.add_parser("classifiers", aliases=["models"],
                            help="import past tickets, retrain, compare, promote, roll back the "
                                 "triage classifiers (old name: models)")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    im = msub.add_parser("import", help="import a CSV/JSONL export of past tickets",
                         description=__doc__ + "\nPresets: " + ", ".join(PRESETS),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    im.add_argument("file", type=Path)
    im.add_argument("--preset", choices=sorted(PRESETS), default="plain",
                    help="the export's column layout: zendesk, zohodesk, freshdesk, or plain "
                         "(id, subject, text, topic, priority, sentiment); default plain")
    im.add_argument("--map", default="", help="FIELD=COLUMN,… with FIELD one of id, subject, "
                                              "text, topic, priority, sentiment")
    im.add_argument("--source", default="", help="name the export's system (dedupe namespace; "
                                                 "default: the preset)")
    im.add_argument("--yes", "-y", action="store_true",
                    help="do not ask to confirm the column summary on a terminal (it is still "
                         "printed); non-interactive runs never ask")
    im.add_argument("--show-errors", type=int, default=20,
                    help="list at most this many bad rows (default 20)")
    im.add_argument("--json", action="store_true", help=JSON_HELP)
    add_common(im)
    im.set_defaults(func=cmd_import)

    tr = msub.add_parser("train", help="train a candidate and compare it with the current model")
    tr.add_argument("--task", choices=TASKS, required=True,
                    help="which model to train; risk trains on the packaged risk corpus plus "
                         "managers' false-alarm/escalate verdicts (a --file for risk has "
                         "';'-separated categories or 'none' in its label column)")
    tr.add_argument("--source", choices=("tickets", "history", "all"), default="all",
                    help="resolved tickets (agents' corrections win), imported history, or both")
    tr.add_argument("--file", type=Path, help="train on this labelled CSV/JSONL instead")
    tr.add_argument("--text-col", default="text", help="with --file: the text column "
                                                       "(default: text)")
    tr.add_argument("--label-col", default="", help="with --file (default: the task name)")
    tr.add_argument("--classifier", choices=("svm", "logreg"),
                    help="linear SVM (the default) or logistic regression")
    tr.add_argument("--auto-promote", action="store_true",
                    help="promote the candidate if the policy holds")
    _policy_args(tr)
    _job_args(tr)
    add_common(tr)
    tr.set_defaults(func=cmd_train)

    ls = msub.add_parser("list", help="versions, manifests, what each worker runs")
    ls.add_argument("--task", choices=TASKS, help="only this task's versions")
    ls.add_argument("--json", action="store_true", help=JSON_HELP)
    add_common(ls)
    ls.set_defaults(func=cmd_list)

    cmp_ = msub.add_parser("compare", help="a candidate against the current model: scores, "
                                           "confusion, calibration, disagreements, policy")
    cmp_.add_argument("task", choices=TASKS)
    cmp_.add_argument("version", type=id_arg(MODEL_VERSION),
                      help="the candidate version, as `deskgate classifiers list` shows it")
    cmp_.add_argument("--rerun", action="store_true",
                      help="evaluate again against today's current model")
    cmp_.add_argument("--source", choices=("tickets", "history", "all"), default="all",
                      help="with --rerun: the labelled rows to evaluate on (default: all)")
    _policy_args(cmp_)
    _job_args(cmp_)
    add_common(cmp_)
    cmp_.set_defaults(func=cmd_compare)

    pr = msub.add_parser("promote", help="make a version current; workers switch live")
    pr.add_argument("task", choices=TASKS)
    pr.add_argument("version", type=id_arg(MODEL_VERSION),
                    help="the version to make current, as `deskgate classifiers list` shows it")
    add_common(pr)
    pr.set_defaults(func=cmd_promote)

    rb = msub.add_parser("rollback", help="return a task to its previous version")
    rb.add_argument("task", choices=TASKS)
    add_common(rb)
    rb.set_defaults(func=cmd_rollback)

    jb = msub.add_parser("jobs", help="list jobs; one job's status and log; cancel it")
    jb.add_argument("job", nargs="?", help="a job id: show its status, progress and log")
    jb.add_argument("--cancel", action="store_true",
                    help="cancel the job if queued, stop it if running")
    jb.add_argument("--json", action="store_true", help=JSON_HELP)
    add_common(jb)
    jb.set_defaults(func=cmd_jobs_list)

    # `jobs` was this command's name beside the `classifiers jobs` list; it still works.
    worker = sub.add_parser("retraining-worker", aliases=["jobs"],
                            help="run the worker for retraining and import jobs (`serve` runs "
                                 "one; old name: jobs)",
                            description="The rq worker for retraining and import jobs. rq uses "
                                        f"{jobs.JOBS_REDIS_URL_ENV} when set (required beside "
                                        "a Redis Cluster), else the deployment's Redis.")
    add_common(worker)
    worker.set_defaults(func=cmd_jobs_worker)
