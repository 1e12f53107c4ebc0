"""The triage engine the workers call: everything loaded once, then batched triage.

    triager = Triager.load()                   # packaged default models + rules
    results = triager.triage([TriageInput(text="我的订单还没到，急！")])

A model directory holds one artifact directory per task (`topic/`, `priority/`, `sentiment/`,
`risk/`, see `artifacts`). Per batch: clean-up, the spaCy pipelines (language, entities, rule
signals, word tokens), one hashed feature matrix shared by the three classifiers and the risk
model (`risk`), then the rules.
Nothing is loaded or compiled on the per-message path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from deskgate.models.enums import Priority, Sentiment
from deskgate.models.triage import Triage, TriageInput
from deskgate.triage import artifacts
from deskgate.triage.entities import EntityExtractor, EntityPattern
from deskgate.triage.features import analyze, hash_features
from deskgate.triage.langid import LanguageDetector
from deskgate.triage.model import Model
from deskgate.triage.pipeline import Pipelines, doc_text
from deskgate.triage.risk import TASK as RISK
from deskgate.triage.risk import RiskAssessor, RiskModel
from deskgate.triage.rules import RulesConfig, decide, load_rules
from deskgate.triage.text import clean

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_models"
TASKS = ("topic", "priority", "sentiment")
ALL_TASKS = (*TASKS, RISK)   # the three classifiers and the multi-label risk model
FALLBACK_TOPIC = "other"


class Triager:
    """Holds the pipelines, the three classifiers, the risk model and the rules of one model
    version."""

    def __init__(
        self,
        models: Mapping[str, Model],
        *,
        rules: RulesConfig,
        pipelines: Pipelines,
        load_seconds: float = 0.0,
    ) -> None:
        missing = [t for t in ALL_TASKS if t not in models]
        if missing:
            raise ValueError(f"missing models: {missing}")
        bad = set(models["sentiment"].labels) - {s.value for s in Sentiment}
        bad |= set(models["priority"].labels) - {p.value for p in Priority}
        if bad:
            raise ValueError(f"model labels outside the Sentiment/Priority enums: {sorted(bad)}")
        self.models = dict(models)
        self.rules = rules
        self.pipelines = pipelines
        self.load_seconds = load_seconds
        self.version = ",".join(
            f"{t}@{self.models[t].info.get('version', 'unsaved').rsplit('-', 1)[-1]}"
            for t in ALL_TASKS)
        self.risk = RiskAssessor(RiskModel(self.models[RISK]), rules.risk_context,
                                 rules.negations, self._featurize)
        self._pos = self._index("sentiment", Sentiment.POSITIVE.value)
        self._neg = self._index("sentiment", Sentiment.NEGATIVE.value)

    def _index(self, task: str, label: str) -> int | None:
        labels = self.models[task].labels
        return labels.index(label) if label in labels else None

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        rules: RulesConfig | Path | None = None,
        entity_patterns: Mapping[str, Sequence[EntityPattern]] | None = None,
    ) -> Triager:
        """Load the models under `model_dir` (None: the packaged defaults), the rules (a
        RulesConfig, a YAML path, or None: `model_dir/rules.yaml` if present, else the packaged
        rules) and per-account entity patterns. Raises artifacts.ArtifactError on a bad model."""
        started = time.perf_counter()
        model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        models = {t: artifacts.load(model_dir / t, task=t) for t in ALL_TASKS}
        if not isinstance(rules, RulesConfig):
            local = model_dir / "rules.yaml"
            rules = load_rules(rules if rules is not None else (local if local.is_file() else None))
        pipelines = Pipelines(
            rules=rules,
            extractor=EntityExtractor(dict(entity_patterns or {})),
            detector=LanguageDetector(),
        )
        return cls(models, rules=rules, pipelines=pipelines,
                   load_seconds=time.perf_counter() - started)

    def _featurize(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[str]]]:
        docs = self.pipelines.docs(list(texts), only_words=True)
        feats = [analyze(d._.dg_words, doc_text(d)) for d in docs]
        return hash_features(feats), feats

    def triage(self, inputs: Sequence[TriageInput]) -> list[Triage]:
        """Triage a batch; the result at index i belongs to inputs[i]."""
        if not inputs:
            return []
        with self.pipelines.batch(len(inputs)):
            return self._triage(inputs)

    def _triage(self, inputs: Sequence[TriageInput]) -> list[Triage]:
        cleaned = [clean(i.text, i.subject) for i in inputs]
        docs = self.pipelines.docs(cleaned, [i.account for i in inputs])
        # each `doc._` builds an accessor object: read every extension once per message
        ext = [d._ for d in docs]
        words = [e.dg_words for e in ext]
        feats = [analyze(w, doc_text(d)) for w, d in zip(words, docs, strict=True)]
        raw = hash_features(feats)
        X = {t: self.models[t].transform(raw) for t in TASKS}
        P = {t: self.models[t].predict_proba(X[t]) for t in TASKS}
        risks = self.risk.assess([doc_text(d) for d in docs], feats, raw)
        topic_m, prio_m, sent_m = (self.models[t] for t in TASKS)
        topic_choice = topic_m.choose(P["topic"])
        out: list[Triage] = []
        for i, (item, e) in enumerate(zip(inputs, ext, strict=True)):
            detected = e.dg_language
            entities = e.dg_entities
            if not words[i]:
                out.append(Triage(language="und", topic=FALLBACK_TOPIC, confidence=0.0,
                                  priority=Priority.P4, sentiment=Sentiment.NEUTRAL,
                                  entities=entities, model_version=self.version))
                continue
            t_idx = int(topic_choice[i])
            topic = topic_m.labels[t_idx]
            sentiment = Sentiment(sent_m.labels[int(np.argmax(P["sentiment"][i]))])
            p_pos = float(P["sentiment"][i][self._pos]) if self._pos is not None else 0.0
            p_neg = float(P["sentiment"][i][self._neg]) if self._neg is not None else 0.0
            decision = decide(
                self.rules, item, list(e.dg_signals), entities, topic,
                Priority(prio_m.labels[int(np.argmax(P["priority"][i]))]), sentiment, p_neg,
                risks[i],
            )
            out.append(Triage(
                language=detected.language if detected is not None else "und",
                topic=topic,
                confidence=round(float(P["topic"][i][t_idx]), 4),
                priority=decision.priority,
                sentiment=sentiment,
                sentiment_score=round(p_pos - p_neg, 4),
                risk=decision.risk,
                topic_keywords=topic_m.keywords(X["topic"], i, topic, words[i]),
                priority_reasons=decision.priority_reasons,
                entities=entities,
                model_version=self.version,
            ))
        return out


