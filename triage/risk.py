"""Risk as triage runs it: which kinds of danger a message carries, how sure the model is, and
the words that drove it.

The model (trained by `risk_training`) is one linear scorer per category over the same hashed
features as the classifiers (one-vs-rest), plus a gate scoring "any risk", stored as an
ordinary `Model` artifact whose task is "risk" and whose labels are the categories and then
GATE. Its Platt calibration is folded into the weights, so `sigmoid(decision)` is a calibrated
probability; the manifest's `params.thresholds` holds the threshold per category and the
gate's, chosen on cross-validated out-of-fold scores (see `risk_training`). A category flags
when its score reaches its threshold and the gate's score reaches the gate's.

Context rules (`RiskContext`, the `risk_context` section of rules.yaml) then read what a linear
model cannot:
- negated mentions ("nobody was hurt", "不会起诉") and innocent uses (occupations, product
  names, idioms: "I'm a lawyer", "Fire TV", "笑死") are masked and the message is scored again,
  so those words are no evidence, while the rest of the message still counts;
- a question about a policy ("what is your privacy policy?") needs `question_threshold`;
- explicit phrases (self-harm above all) flag their category whatever the score, unless negated.
Every rule that changes an outcome leaves a reason. Quoted history never reaches this point:
`text.clean` has cut it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from deskgate.models.triage import RiskCategory
from deskgate.triage.features import feature_index
from deskgate.triage.model import Model, lookup
from deskgate.triage.rules import RiskContext, phrase_regex

TASK = "risk"
CATEGORIES = ("legal_regulator", "media_exposure", "safety_injury", "health_food",
              "fraud_account", "privacy_data", "self_harm", "violence_threat", "staff_misconduct",
              "payment_dispute", "churn_high_value")
NONE = "none"             # the label of a message that carries no risk (a false alarm)
GATE = "any_risk"         # the model's last label: any risk at all (see risk_training)
MAX_DRIVERS = 3
MAX_FEATURES = 40          # the strongest features mapped back to the text for the words
MAX_OCCURRENCES = 8        # … each at its first few places: a long email costs no more


def parse_labels(value: str) -> tuple[str, ...]:
    """"a;b" -> ("a", "b") in CATEGORIES order; "" and "none" -> (). Raises ValueError on an
    unknown category."""
    names = {v.strip() for v in value.split(";") if v.strip()} - {NONE}
    unknown = names - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown risk categories {sorted(unknown)}; "
                         f"use {', '.join(CATEGORIES)} or {NONE}")
    return tuple(c for c in CATEGORIES if c in names)


def format_labels(categories: Sequence[str]) -> str:
    return ";".join(categories) if categories else NONE


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


class RiskModel:
    """A loaded risk artifact: calibrated scores, thresholds, and the words behind a score."""

    def __init__(self, model: Model) -> None:
        if model.task != TASK:
            raise ValueError(f"a {model.task!r} model where a risk model was expected")
        thresholds = model.info.get("params", {}).get("thresholds", {})
        missing = [c for c in model.labels if c not in thresholds]
        if missing:
            raise ValueError(f"risk model without thresholds for {missing}; retrain it")
        if model.labels[-1:] != (GATE,):
            raise ValueError(f"risk model without its {GATE!r} gate; retrain it")
        self.model = model
        self.categories = model.labels[:-1]
        self.thresholds = np.array([float(thresholds[c]) for c in self.categories])
        self.gate = float(thresholds[GATE])
        coef = model.coef.tocsr()
        coef.sort_indices()
        # per category its columns (sorted) and weights, views on the CSR arrays: a flagged
        # message's few hundred columns are looked up by binary search (Python dicts of every
        # weight cost ~130 MB of RSS)
        self._rows = [(coef.indices[coef.indptr[r]:coef.indptr[r + 1]],
                       coef.data[coef.indptr[r]:coef.indptr[r + 1]])
                      for r in range(coef.shape[0])]

    @property
    def version(self) -> str:
        return str(self.model.info.get("version", "unsaved"))

    def scores(self, raw: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
        """Hashed counts -> (this model's TF-IDF rows, calibrated probability per category,
        then of any risk: the gate)."""
        X = self.model.transform(raw)
        return X, sigmoid(self.model.decision(X))

    def flags(self, P: np.ndarray) -> np.ndarray:
        """What the model alone flags, from `scores`: past the gate and the threshold."""
        return (P[:, :-1] >= self.thresholds) & (P[:, -1:] >= self.gate)

    @staticmethod
    def columns(features: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """A message's distinct feature strings and their hashed columns, for `drivers`."""
        feats = list(dict.fromkeys(features))
        return feats, np.array([feature_index(f) for f in feats], dtype=np.int64)

    def drivers(self, X: sp.csr_matrix, row: int, category: int,
                columns: tuple[list[str], np.ndarray], text: str,
                k: int = MAX_DRIVERS) -> tuple[str, ...]:
        """The stretches of `text` whose features (`columns`) pushed message `row` most towards
        `category`: each feature's TF-IDF value times its weight, spread over the characters
        it covers, then the highest-scoring runs of characters, widened to whole Latin words."""
        feats, cols = columns
        x_idx = X.indices[X.indptr[row]:X.indptr[row + 1]]
        x_val = X.data[X.indptr[row]:X.indptr[row + 1]]
        w_idx, w_val = self._rows[category]
        low = text.lower()
        per_char = np.zeros(len(low))
        if not feats or not len(w_idx) or not len(x_idx):
            return ()
        order = np.argsort(x_idx)
        x_idx, x_val = x_idx[order], x_val[order]
        contrib = lookup(w_idx, w_val, cols) * lookup(x_idx, x_val, cols)
        # the strongest features carry the explanation; mapping all of them costs milliseconds
        top = [i for i in np.argsort(-contrib, kind="stable")[:MAX_FEATURES].tolist()
               if contrib[i] > 0.0]
        for contrib_i, feat in ((float(contrib[i]), feats[i]) for i in top):
            surface = _surface(feat)
            if not surface or surface.startswith("<"):
                continue
            start, seen = low.find(surface), 0
            while start >= 0 and seen < MAX_OCCURRENCES:
                per_char[start:start + len(surface)] += contrib_i / len(surface)
                start, seen = low.find(surface, start + 1), seen + 1
        if not per_char.any():
            return ()
        hot = np.r_[False, per_char >= 0.25 * per_char.max(), False].astype(np.int8)
        edges = np.flatnonzero(np.diff(hot))          # run starts and ends, alternating
        runs = [(float(per_char[i:j].sum()), *_widen(low, int(i), int(j)))
                for i, j in zip(edges[::2], edges[1::2], strict=False)]
        runs.sort(reverse=True)
        out: list[str] = []
        for _, s, e in runs:
            span = text[s:e].strip()[:40]
            if span and span not in out:
                out.append(span)
            if len(out) == k:
                break
        return tuple(out)


class Phrases:
    """A list of phrases found the way `rules.PhraseMatcher` finds its lexicons: each phrase's
    longest word is first looked for by a plain substring test (C speed), and only then its own
    boundary-aware regex runs. One alternation of ~200 phrases took 4 ms on a 2.5 KB email."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self._items = [(max(p.lower().split(), key=len), phrase_regex([p]))
                       for p in dict.fromkeys(x.strip() for x in phrases) if p]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the phrases occur, sorted, overlaps merged."""
        low = text.lower()
        found = sorted(m.span() for key, rx in self._items if key in low
                       for m in rx.finditer(text))
        merged: list[tuple[int, int]] = []
        for a, b in found:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged


def _surface(feature: str) -> str:
    kind, _, body = feature.partition(":")
    if kind == "c":
        return body.strip()
    if kind == "b":
        a, _, b = body.partition(" ")
        # a Latin bigram is two words with a space between them, a Chinese one is not
        return f"{a} {b}" if (a[-1:].isascii() and b[:1].isascii()) else a + b
    return body


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and text[start - 1].isascii() and text[start - 1].isalnum() \
            and text[start].isascii() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isascii() and text[end].isalnum() \
            and text[end - 1].isascii() and text[end - 1].isalnum():
        end += 1
    return start, end


# texts -> (hashed counts, feature strings), for scoring masked texts again
Featurize = Callable[[Sequence[str]], tuple[sp.csr_matrix, list[list[str]]]]


class RiskAssessor:
    """The risk model plus the context rules, applied to a batch."""

    def __init__(self, model: RiskModel, context: RiskContext, negations: Sequence[str],
                 featurize: Featurize) -> None:
        self.model = model
        self.context = context
        self._featurize = featurize
        self._mask = {kind: Phrases(phrases) for kind, phrases in
                      (("negated", context.negated), ("innocent", context.innocent)) if phrases}
        self._question = phrase_regex(list(context.questions)) if context.questions else None
        self._policy = phrase_regex(list(context.policy)) if context.policy else None
        self._explicit = {c: Phrases(p) for c, p in context.explicit.items()
                          if p and c in model.categories}
        negs = [n for n in negations if n.strip()]
        self._negation = phrase_regex(negs, suffix=r"\W{0,3}$") if negs else None

    def assess(self, texts: Sequence[str], features: Sequence[Sequence[str]],
               raw: sp.csr_matrix) -> list[tuple[RiskCategory, ...]]:
        """`texts` are cleaned, `features` their feature strings and `raw` their hashed counts
        (both shared with the classifiers). Per text: the flagged categories (highest score
        first), then those scoring at least `report_floor` or touched by a rule."""
        X, P = self.model.scores(raw)
        # Most messages carry no risk: only those where the model flags something, a category
        # reaches report_floor, or an explicit phrase occurs take the per-category path; only
        # those the model flags are masked and scored again (masking only ever withdraws).
        flagged = self.model.flags(P).any(axis=1)
        listed = (P[:, :-1] >= self.context.report_floor).any(axis=1)
        masked: dict[int, tuple[str, list[str]]] = {}
        for i in np.flatnonzero(flagged).tolist():
            notes = []
            new = texts[i]
            for kind, phrases in self._mask.items():
                spans = phrases.spans(new)
                if spans:
                    hits = dict.fromkeys(new[a:b] for a, b in spans)
                    for a, b in reversed(spans):
                        new = new[:a] + " " + new[b:]
                    notes.append(f"{kind}: " + ", ".join(f"“{h}”" for h in hits))
            if notes:
                masked[i] = (new, notes)
        rescored: dict[int, tuple[sp.csr_matrix, np.ndarray, list[str], str]] = {}
        if masked:
            order = list(masked)
            raw2, feats2 = self._featurize([masked[i][0] for i in order])
            X2, P2 = self.model.scores(raw2)
            for j, i in enumerate(order):
                rescored[i] = (X2[j], P2[j], feats2[j], masked[i][0])
        out: list[tuple[RiskCategory, ...]] = []
        for i, text in enumerate(texts):
            if listed[i] or flagged[i] or self._any_explicit(text):
                out.append(self._one(i, text, features[i], X, P[i], masked.get(i, ("", []))[1],
                                     rescored.get(i)))
            else:
                out.append(())
        return out

    def _any_explicit(self, text: str) -> bool:
        return any(rule.spans(text) for rule in self._explicit.values())

    def _one(self, i: int, text: str, features: Sequence[str], X: sp.csr_matrix, p: np.ndarray,
             mask_notes: list[str],
             rescored: tuple[sp.csr_matrix, np.ndarray, list[str], str] | None,
             ) -> tuple[RiskCategory, ...]:
        ctx = self.context
        cats = self.model.categories
        thresholds = self.model.thresholds.copy()
        before = p
        x_row, row, w, t = X, i, features, text
        if rescored is not None:
            x_row, p, w, t = rescored[0], rescored[1], rescored[2], rescored[3]
            row = 0
        question = ""
        if self._question is not None and self._policy is not None:
            q, pol = self._question.search(text), self._policy.search(text)
            if q and pol:
                question = f"a question about a policy: “{q.group()}” … “{pol.group()}”"
                thresholds = np.maximum(thresholds, ctx.question_threshold)
        base, gate = self.model.thresholds, self.model.gate
        columns: tuple[list[str], np.ndarray] | None = None
        listed: list[RiskCategory] = []
        for c, name in enumerate(cats):
            score = float(p[c])
            why: list[str] = []
            model_flag = bool(score >= base[c] and p[-1] >= gate)
            flag = bool(model_flag and score >= thresholds[c])
            rule = self._explicit.get(name)
            for a, b in rule.spans(t) if rule is not None else ():
                if not self._denied(t, a):
                    why.append(f"rule: “{t[a:b]}”")
                    flag = True
                    break
            if before[c] >= base[c] and before[-1] >= gate and not model_flag:
                why += [f"not counted, {n}" for n in mask_notes]
            elif model_flag and not flag:
                why.append(question)
            elif score >= base[c] and not flag:
                why.append(f"the message reads as ordinary (any-risk {p[-1]:.2f} < {gate:.2f})")
            if not flag and score < ctx.report_floor and not why:
                continue
            if flag:
                columns = columns or self.model.columns(w)
                drivers = self.model.drivers(x_row, row, c, columns, t)
                if drivers:
                    why.insert(0, ", ".join(f"“{d}”" for d in drivers))
            listed.append(RiskCategory(name=name, score=round(score, 3),
                                       threshold=round(float(thresholds[c]), 3),
                                       flagged=flag, reasons=tuple(why)))
        listed.sort(key=lambda r: (not r.flagged, -r.score))
        return tuple(listed)

    def _denied(self, text: str, start: int) -> bool:
        """An explicit phrase right after a negation ("I would never hurt myself")."""
        return self._negation is not None and \
            self._negation.search(text[max(0, start - 24):start]) is not None
