"""The spaCy pipelines: `blank("zh")` with the jieba segmenter for Chinese and mixed text,
`blank("en")` for the rest, each with our components registered the spaCy way:

- ``deskgate_cleanup``   normalized word tokens for the classifiers (`doc._.dg_words`): lower-case,
  no punctuation or whitespace, numbers / URLs / emails folded into placeholders
- ``deskgate_language``  the detected language (`doc._.dg_language`, a `langid.Detected`)
- ``deskgate_entities``  regex entities (`doc._.dg_entities`), also mapped onto `doc.ents`
  with `doc.char_span`; per-account patterns via `doc.user_data["dg_account"]`
- ``deskgate_risk_rules`` phrase signals from the admin's rules (`doc._.dg_signals`)

Text clean-up (HTML, quoted replies, signatures) happens before tokenization because a Doc's
text is immutable; `Pipelines.docs` does both. No pretrained spaCy model is needed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans, get_words_and_spaces

from deskgate.triage.entities import EntityExtractor
from deskgate.triage.features import WINDOW
from deskgate.triage.langid import LanguageDetector
from deskgate.triage.rules import PhraseMatcher, RulesConfig
from deskgate.triage.text import has_han

with warnings.catch_warnings():
    # jieba imports pkg_resources, which warns about our namespace-mapped package on every CLI run.
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import jieba

for _name, _default in (("dg_words", None), ("dg_language", None), ("dg_entities", ()), ("dg_signals", ())):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=_default)

_REGION = {"zh": "CN", "en": "US"}
RENEW_MESSAGES = 10_000  # messages triaged by one build of the pipelines (Pipelines.batch)


def doc_text(doc: Doc) -> str:
    """The whole cleaned text a Doc was made from (its tokens cover the first
    `features.WINDOW` characters). `Doc.text` would also re-join every token on each access
    (~40 µs for a short message)."""
    text = doc.user_data.get("dg_text")
    return text if text is not None else doc.text


@Language.component("deskgate_cleanup")
def cleanup_component(doc: Doc) -> Doc:
    words: list[str] = []
    for t in doc:
        if t.is_punct or t.is_space or t.is_quote or t.is_bracket:
            continue
        if t.like_url:
            words.append("<url>")
        elif t.like_email:
            words.append("<email>")
        elif t.like_num or t.is_digit:
            words.append("<num>")
        else:
            words.append(t.lower_)
    doc._.dg_words = words
    return doc


# The stateful components get their loaded object (detector, extractor, matcher) attached
# after `add_pipe`: spaCy configs must be serializable, and ours are loaded once per process.
class LanguageComponent:
    def __init__(self) -> None:
        self.detector: LanguageDetector | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.detector is not None:
            # The opening is enough to tell the language, and fastText's cost grows with length.
            doc._.dg_language = self.detector.detect(doc_text(doc)[:WINDOW])
        return doc


class EntityComponent:
    def __init__(self) -> None:
        self.extractor = EntityExtractor()

    def __call__(self, doc: Doc) -> Doc:
        lang = doc._.dg_language.language if doc._.dg_language is not None else doc.lang_
        found = self.extractor.extract(
            doc_text(doc), doc.user_data.get("dg_account", ""), _REGION.get(lang, "CN")
        )
        doc._.dg_entities = tuple(found)
        spans = []
        for e in found:
            span = doc.char_span(e.start, e.end, label=e.label, alignment_mode="expand")
            if span is not None:
                spans.append(span)
        doc.ents = filter_spans(spans)
        return doc


class RiskRulesComponent:
    def __init__(self) -> None:
        self.matcher: PhraseMatcher | None = None

    def __call__(self, doc: Doc) -> Doc:
        if self.matcher is not None:
            doc._.dg_signals = tuple(self.matcher.signals(doc_text(doc)))
        return doc


@Language.factory("deskgate_language")
def _make_language(nlp: Language, name: str) -> LanguageComponent:
    return LanguageComponent()


@Language.factory("deskgate_entities")
def _make_entities(nlp: Language, name: str) -> EntityComponent:
    return EntityComponent()


@Language.factory("deskgate_risk_rules")
def _make_risk(nlp: Language, name: str) -> RiskRulesComponent:
    return RiskRulesComponent()


_COMPONENTS = ("deskgate_cleanup", "deskgate_language", "deskgate_entities", "deskgate_risk_rules")


class JiebaTokenizer:
    """spaCy's jieba segmenter with jieba's HMM for unknown words turned off: 2.4x faster
    (~21k vs ~8.6k short messages/s here), and the character n-gram features already cover the
    new words the HMM would have joined. Otherwise identical to spaCy's (words + spaces)."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words = list(cut(text))
        words, spaces = get_words_and_spaces(words, text)
        return Doc(self.vocab, words=words, spaces=spaces)


# jieba splits a text into blocks of Han, Latin letters, digits and +#&._%- and runs its
# dictionary search (one Python step per character) over each. Its dictionary holds no word
# of only Latin letters and digits (only AT&T, C#, C++ and mixed ones like T恤), so such a
# block always comes back whole: answering it directly gives jieba's exact output at a
# fraction of the cost on English and mixed text (tests/triage/test_tokenizer.py checks it).
_JIEBA_BLOCK = jieba.re_han_default
_ALNUM = re.compile(r"[A-Za-z0-9]+")


def cut(text: str) -> Iterator[str]:
    """jieba's `cut(text, HMM=False)` without its empty strings."""
    for block in _JIEBA_BLOCK.split(text):
        if not block:
            continue
        if _ALNUM.fullmatch(block):
            yield block
        else:
            yield from (w for w in jieba.cut(block, cut_all=False, HMM=False) if w)


def _jieba_quiet(cache_dir: Path | None) -> None:
    jieba.setLogLevel(logging.WARNING)
    if cache_dir is not None:
        jieba.dt.tmp_dir = str(cache_dir)


class Pipelines:
    """Both spaCy pipelines, built once per process. `docs` picks the pipeline per message:
    any Han character sends a message to the jieba pipeline, which also segments the Latin
    words of mixed text correctly; blank("en") would leave a Chinese clause as one token."""

    def __init__(
        self,
        *,
        rules: RulesConfig | None = None,
        extractor: EntityExtractor | None = None,
        detector: LanguageDetector | None = None,
        jieba_cache_dir: Path | None = None,
    ) -> None:
        _jieba_quiet(jieba_cache_dir)
        self._detector = detector
        self._extractor = extractor
        self._matcher = PhraseMatcher(rules) if rules is not None else None
        self._build()
        self.zh("预热 warm up")  # jieba loads its dictionary on first use (~1 s); pay it at load
        self._one_batch = threading.Lock()
        self._renew_left = RENEW_MESSAGES

    def _build(self) -> None:
        zh = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        zh.tokenizer = JiebaTokenizer(zh.vocab)
        en = spacy.blank("en")
        for nlp in (zh, en):
            for name in _COMPONENTS:
                comp: Any = nlp.add_pipe(name)
                if name == "deskgate_language":
                    comp.detector = self._detector
                elif name == "deskgate_entities" and self._extractor is not None:
                    comp.extractor = self._extractor
                elif name == "deskgate_risk_rules" and self._matcher is not None:
                    comp.matcher = self._matcher
        self.zh, self.en = zh, en

    @contextlib.contextmanager
    def batch(self, messages: int) -> Iterator[None]:
        """Where a batch of `messages` is triaged, one batch at a time (the Triagers of a
        process share these pipelines). spaCy keeps every string and lexeme it has seen for
        good: each order number, name or address grew a worker by ~2 KB per message, without
        bound. So after RENEW_MESSAGES messages both pipelines are built afresh (~0.1 s; jieba's
        dictionary is kept) and the old ones, with what they learnt, are dropped: no Doc made
        in a batch may be kept past it. (spaCy's memory zones free the same, but every token
        inside one costs more: +13% of the triage CPU here.)"""
        with self._one_batch:
            if self._renew_left <= 0:
                self._build()
                self._renew_left = RENEW_MESSAGES
            self._renew_left -= messages
            yield

    def docs(self, texts: Sequence[str], accounts: Sequence[str] | None = None,
             only_words: bool = False) -> list[Doc]:
        """Run the pipelines over already-cleaned texts, keeping input order.
        `only_words` runs just the clean-up component (training needs nothing else)."""
        out: list[Doc | None] = [None] * len(texts)
        for nlp, want_han in ((self.zh, True), (self.en, False)):
            idx = [i for i, t in enumerate(texts) if has_han(t) == want_han]
            if not idx:
                continue
            made = []
            for i in idx:
                # Tokens (for the classifiers) cover the window only; the components that
                # read `doc_text` (language, entities, risk rules) see the whole text.
                doc = nlp.make_doc(texts[i][:WINDOW])
                doc.user_data["dg_text"] = texts[i]
                if accounts is not None:
                    doc.user_data["dg_account"] = accounts[i]
                made.append(doc)
            if only_words:
                made = [cleanup_component(d) for d in made]
            else:
                made = list(nlp.pipe(made, batch_size=256))
            for i, doc in zip(idx, made, strict=True):
                out[i] = doc
        return [d for d in out if d is not None]
