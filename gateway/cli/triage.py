"""`deskgate triage …`: evaluate classifiers on labelled files and triage one message.

    deskgate triage eval --test TEST [--train TRAIN] [--task topic|priority|sentiment]
                         [--text-col text] [--label-col label] [--json] [--baseline]
    deskgate triage text "我的订单还没到，急！" [--subject …] [--tier vip] [--contacts 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deskgate.models.codec import to_builtins
from deskgate.models.triage import TriageInput

TASKS = ("topic", "priority", "sentiment")


def _label_map(spec: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in spec.split(",") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise argparse.ArgumentTypeError("expected FROM=TO[,FROM=TO…]")
    return {a.strip(): b.strip() for a, b in pairs}


def cmd_eval(args: argparse.Namespace) -> int:
    # Imported here: spaCy and scikit-learn take a second to import and other commands need neither.
    from deskgate.triage import artifacts, evaluation
    from deskgate.triage.engine import DEFAULT_MODEL_DIR
    from deskgate.triage.pipeline import Pipelines

    try:
        test_x, test_y = evaluation.read_labelled(args.test, args.text_col, args.label_col)
        train_xy = (evaluation.read_labelled(args.train, args.text_col, args.label_col)
                    if args.train else None)
    except (evaluation.DataError, OSError) as exc:
        print(f"deskgate triage eval: {exc}", file=sys.stderr)
        return 2
    if args.label_map:
        test_y = [args.label_map.get(y, y) for y in test_y]
        if train_xy is not None:
            train_xy = (train_xy[0], [args.label_map.get(y, y) for y in train_xy[1]])
    if args.baseline and train_xy is None:
        print("deskgate triage eval: --baseline needs --train", file=sys.stderr)
        return 2
    progress = not args.json and sys.stderr.isatty()
    pipelines = Pipelines()
    if train_xy is not None:
        rep, pred = evaluation.train_and_evaluate(args.task, *train_xy, test_x, test_y, pipelines,
                                                  progress=progress, classifier=args.classifier)
    else:
        model_dir = (args.model_dir or DEFAULT_MODEL_DIR) / args.task
        try:
            model = artifacts.load(model_dir, task=args.task)
        except artifacts.ArtifactError as exc:
            print(f"deskgate triage eval: {exc}", file=sys.stderr)
            return 2
        rep, pred = evaluation.evaluate_model(model, pipelines, test_x, test_y, progress=progress)
    if args.baseline and train_xy is not None:
        rep["baseline"], base_pred = evaluation.baseline(*train_xy, test_x, test_y)
        rep["vs_baseline"] = evaluation.compare(test_y, pred, base_pred)
    if args.json:
        print(json.dumps(rep, ensure_ascii=False))
        return 0
    evaluation.format_report(rep)
    if "baseline" in rep:
        print()
        evaluation.format_report(rep["baseline"])
        d = rep["vs_baseline"]
        print()
        print(f"deskgate - baseline (same split, paired bootstrap 95% CI over test rows):\n"
              f"  macro-F1 {d['macro_f1_delta']:+.4f} [{d['macro_f1_delta_ci95'][0]:+.4f}, "
              f"{d['macro_f1_delta_ci95'][1]:+.4f}]   accuracy {d['accuracy_delta']:+.4f} "
              f"[{d['accuracy_delta_ci95'][0]:+.4f}, {d['accuracy_delta_ci95'][1]:+.4f}]")
    return 0


def cmd_text(args: argparse.Namespace) -> int:
    from deskgate.triage.engine import Triager

    triager = Triager.load(args.model_dir)
    item = TriageInput(text=args.text, subject=args.subject, account=args.account,
                       customer_tier=args.tier, recent_contacts=args.contacts)
    result = triager.triage([item])[0]
    print(json.dumps(to_builtins(result), ensure_ascii=False, indent=None if args.json else 2))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    triage = subparsers.add_parser("triage", help="evaluate the triage classifiers, triage a message")
    tsub = triage.add_subparsers(dest="triage_command", metavar="ACTION", required=True)

    ev = tsub.add_parser(
        "eval", help="accuracy, macro-F1, per-class scores, confusion matrix, speed",
        description="Evaluate a classifier on a labelled CSV/JSONL file. With --train, train a "
                    "fresh model with the production pipeline on TRAIN first (what an admin gets "
                    "by retraining on their own tickets); without it, evaluate the current model.")
    ev.add_argument("--test", type=Path, required=True, help="labelled CSV or JSONL to score")
    ev.add_argument("--train", type=Path, help="labelled CSV or JSONL to train a fresh model on")
    ev.add_argument("--task", choices=TASKS, default="topic", help="which classifier (default topic)")
    ev.add_argument("--text-col", default="text",
                    help="text column; several joined by commas, e.g. subject,body")
    ev.add_argument("--label-col", default="label", help="label column (default label)")
    ev.add_argument("--label-map", type=_label_map, default={},
                    help="rename labels, e.g. 0=negative,1=positive (a data set's labels -> the "
                         "model's)")
    ev.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ev.add_argument("--baseline", action="store_true",
                    help="also train the strong baseline (TF-IDF char_wb 1-4 + word 1-2 with jieba "
                         "-> LogisticRegression C=10) on the same split and report our "
                         "difference with a paired bootstrap 95%% confidence interval")
    ev.add_argument("--classifier", choices=("svm", "logreg"), default="svm",
                    help="with --train: the linear model (default svm)")
    ev.add_argument("--model-dir", type=Path, default=None,
                    help="directory of the current models (default: the packaged ones)")
    ev.set_defaults(func=cmd_eval)

    tx = tsub.add_parser("text", help="print the triage of one message")
    tx.add_argument("text", help="the message text")
    tx.add_argument("--subject", default="", help="email subject, if any")
    tx.add_argument("--account", default="",
                    help="our inbox/bot the message came to (selects its entity patterns)")
    tx.add_argument("--tier", default="standard", help="customer tier, e.g. vip")
    tx.add_argument("--contacts", type=int, default=0,
                    help="the customer's earlier unresolved contacts in the risk window")
    tx.add_argument("--model-dir", type=Path, default=None,
                    help="directory of the models (default: the packaged ones)")
    tx.add_argument("--json", action="store_true", help="compact JSON")
    tx.set_defaults(func=cmd_text)
