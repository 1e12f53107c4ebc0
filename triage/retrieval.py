"""The one retrieval engine behind article search, agent suggestions and the web-chat FAQ:
BM25 over a sparse term matrix, Chinese and English alike.

Terms come from the tokenizer triage uses (`pipeline.cut`: jieba without HMM, Latin and digit
runs whole), NFKC-folded and lower-cased, English words Snowball-stemmed, stop words dropped.
Identifiers (order, tracking numbers) stay whole terms, so a shared one counts like any rare
word, and `Index.explain` names it as a shared entity.

The index is built for incremental use: documents are added in blocks (a CSC matrix of BM25's
saturated term frequencies, one column per term); a query adds up only the columns of its terms
(idf is applied at query time from live document frequencies), and top-k is `argpartition`.
Removing a document only marks it dead; once dead rows are a quarter of the rows the blocks are
compacted into one. Adding a key already present replaces it (an edited article, a ticket
resolved again), so replaying the same updates leaves the same index.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import snowballstemmer
from scipy import sparse

from deskgate.triage.entities import EntityExtractor
from deskgate.triage.pipeline import cut

K1 = 1.2
B = 0.75
BLOCK = 2048              # documents gathered before they become a matrix block
MAX_BLOCKS = 8            # more small blocks than this are merged into one
MAX_QUERY_CHARS = 2000    # a query reads at most this much text: bounded CPU per call
# a document (article, ticket question) is indexed by its opening this long: one huge article
# costs a bounded ~10 ms of segmenting, not seconds; snippets still read the whole body
MAX_DOC_CHARS = 8000
# bumped whenever `terms` would give other terms for the same text (tokenizer, stemmer, stop
# words, MAX_DOC_CHARS): terms stored under another version are analysed again
ANALYSER_VERSION = 1
SNIPPET_SCAN = 2000       # of a body searched for the snippet's window (bounded per result)
_STEM_CACHE_MAX = 200_000   # distinct words whose stem / term is remembered
MAX_QUERY_TERMS = 48       # a long ticket is matched by its rarest terms
# postings a query adds up at most: terms are taken rarest first, so a long query full of
# common words costs a bounded time and is ranked by the words that tell documents apart
POSTINGS_BUDGET = 250_000

_WORD = re.compile(r"[0-9a-z\u4e00-\u9fff\u3400-\u4dbf]", re.I)
_LATIN = re.compile(r"^[a-z]+$")
# Common function words carry no topic; the lists are short on purpose (BM25's idf already
# discounts frequent words, this only keeps them out of the "why" and the postings).
STOP_EN = frozenset("""a an and are as at be been but by can could did do does doing for from had
has have having he her hers him his how i if in into is it its itself me my myself no nor not of
off on once only or our ours out over own so some such than that the their theirs them then there
these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself please hi hello thanks thank just also
am im i'm get got""".split())
STOP_ZH = frozenset("""的 了 吗 呢 吧 啊 呀 哦 嗯 是 我 你 您 他 她 它 我们 你们 他们 在 有 和 与 及 或 就 都 也 还 又
这 那 这个 那个 什么 怎么 怎么办 为什么 请 请问 一下 一个 能 可以 不 没 没有 要 想 会 把 被 给 让 对 从 到 个 吧 哈 么
谢谢 你好 您好 麻烦""".split())

_stemmer = snowballstemmer.stemmer("english")
_EXTRACTOR = EntityExtractor()
_stems: dict[str, str] = {}


def _stem(word: str) -> str:
    found = _stems.get(word)
    if found is None:
        found = _stemmer.stemWord(word)
        if len(_stems) < _STEM_CACHE_MAX:
            _stems[word] = found
    return found


_terms: dict[str, str | None] = {}


def term(token: str) -> str | None:
    """A token as an index term, or None when it is punctuation, space or a stop word."""
    if token in _terms:
        return _terms[token]
    t = unicodedata.normalize("NFKC", token).strip().lower()
    if not t or _WORD.search(t) is None or t in STOP_EN or t in STOP_ZH:
        found = None
    else:
        found = _stem(t) if _LATIN.match(t) else t
    if len(_terms) < _STEM_CACHE_MAX:
        _terms[token] = found
    return found


def terms(text: str) -> list[str]:
    """The terms of a text, in order, repeats kept (term frequency counts them)."""
    out = []
    for tok in cut(unicodedata.normalize("NFKC", text[:MAX_DOC_CHARS])):
        t = term(tok)
        if t is not None:
            out.append(t)
    return out


def spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, term) of every term in `text`, offsets into `text` as given (highlighting
    marks these ranges; the text is never rewritten)."""
    out, pos = [], 0
    for tok in cut(text):
        start = text.find(tok, pos)
        if start < 0:
            continue
        pos = start + len(tok)
        t = term(tok)
        if t is not None:
            out.append((start, pos, t))
    return out


@dataclass(frozen=True)
class Query:
    """A query analysed once for a search and the explanations of its hits."""

    text: str
    counts: Counter[str]
    spans: list[tuple[int, int, str]]
    entities: list[tuple[str, list[str]]]      # (as written, its terms)


def analyze(text: str, extractor: EntityExtractor | None = None) -> Query:
    text = unicodedata.normalize("NFKC", text[:MAX_QUERY_CHARS])
    found = spans(text)
    ents = [(e.text, terms(e.text)) for e in (extractor or _EXTRACTOR).extract(text)]
    return Query(text=text, counts=Counter(t for _, _, t in found), spans=found, entities=ents)


@dataclass(frozen=True)
class Hit:
    key: str
    score: float


@dataclass(frozen=True)
class Why:
    terms: tuple[str, ...]          # shared words, as written in the query, best first
    entities: tuple[str, ...]       # shared identifiers (order, tracking numbers, ...)


class _Block:
    __slots__ = ("keys", "matrix")

    def __init__(self, keys: list[str], matrix: sparse.csc_matrix) -> None:
        self.keys = keys
        self.matrix = matrix


class Index:
    """BM25 over documents added by key. Not thread-safe: one event loop owns it."""

    def __init__(self, *, max_docs: int = 0, extractor: EntityExtractor | None = None) -> None:
        self.max_docs = max_docs             # 0: unbounded; else the oldest are dropped
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(1024, dtype=np.int32)
        self._blocks: list[_Block] = []
        self._rows: dict[str, tuple[int, int]] = {}   # key -> (block, row)
        self._dead: list[np.ndarray] = []            # per block: True where removed
        self._lens: list[np.ndarray] = []            # per block: each row's length in terms
        self._n_dead = 0
        # key -> its term ids (df upkeep, "why"), oldest key first (the size bound drops it)
        self._doc_terms: dict[str, np.ndarray] = {}
        # added, not yet in a block: (key, term ids, their counts, length in terms)
        self._pending: list[tuple[str, np.ndarray, np.ndarray, int]] = []
        self._total_len = 0
        self._extractor = extractor or _EXTRACTOR

    # --- size --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._doc_terms)

    def __contains__(self, key: str) -> bool:
        return key in self._doc_terms

    @property
    def avgdl(self) -> float:
        return self._total_len / len(self._doc_terms) if self._doc_terms else 1.0

    # --- updates -----------------------------------------------------------------------
    def add(self, key: str, text: str) -> None:
        """Index `text` under `key`, replacing what the key had."""
        self.add_terms(key, terms(text))

    def add_terms(self, key: str, given: Iterable[str]) -> None:
        """Index already analysed terms (`terms(text)`, kept from an earlier analysis)."""
        if key in self._doc_terms:
            self.remove(key)
        # counted in C, then one dictionary look-up per distinct term: a start builds 200,000
        # tickets from their stored terms, and a loop per term was most of its time
        counted = Counter(given)
        vocab = self._vocab
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in counted), dtype=np.int32,
                          count=len(counted))
        tfs = np.fromiter(counted.values(), dtype=np.int32, count=len(counted))
        dl = int(tfs.sum())
        self._doc_terms[key] = ids
        self._total_len += dl
        self._pending.append((key, ids, tfs, dl))
        if len(self._pending) >= BLOCK:
            self._flush()
        while self.max_docs and len(self._doc_terms) > self.max_docs:
            self.remove(next(iter(self._doc_terms)))

    def add_many(self, items: Iterable[tuple[str, str]]) -> None:
        for key, text in items:
            self.add(key, text)
        self.flush()

    def flush(self) -> None:
        """Turn the pending documents into a matrix block now (a build in a thread does it
        there rather than leave it to the first search, on the event loop)."""
        self._flush()

    def remove(self, key: str) -> bool:
        if key not in self._doc_terms:
            return False
        ids = self._doc_terms.pop(key)
        where = self._rows.pop(key, None)
        if where is None:                       # still pending (not yet in df)
            for i, (k, _, _, dl) in enumerate(self._pending):
                if k == key:
                    self._total_len -= dl
                    del self._pending[i]
                    break
        else:
            b, row = where
            self._df[ids] -= 1
            self._total_len -= int(self._lens[b][row])
            self._dead[b][row] = True
            self._n_dead += 1
        if self._n_dead * 4 > max(1, len(self._rows)):
            self._compact()
        return True

    def _flush(self) -> None:
        if not self._pending:
            return
        keys = [p[0] for p in self._pending]
        lens = np.asarray([p[3] for p in self._pending], dtype=np.int32)
        rows = np.repeat(np.arange(len(keys), dtype=np.int32), [len(p[1]) for p in self._pending])
        tf = np.concatenate([p[2] for p in self._pending]).astype(np.float64)
        norm = K1 * (1 - B + B * lens.astype(np.float64) / self.avgdl)
        vals = tf * (K1 + 1) / (tf + norm[rows])
        cols = np.concatenate([p[1] for p in self._pending])
        if len(self._vocab) > len(self._df):
            grown = np.zeros(max(2 * len(self._df), len(self._vocab)), dtype=np.int32)
            grown[:len(self._df)] = self._df
            self._df = grown
        # a document's term ids are distinct: one count per document that has the term
        self._df += np.bincount(cols, minlength=len(self._df)).astype(np.int32)
        m = sparse.csc_matrix((vals.astype(np.float32), (rows, cols)),
                              shape=(len(keys), len(self._vocab)))
        b = len(self._blocks)
        self._blocks.append(_Block(keys, m))
        self._dead.append(np.zeros(len(keys), dtype=bool))
        self._lens.append(lens)
        for r, key in enumerate(keys):
            self._rows[key] = (b, r)
        self._pending = []
        if len(self._blocks) > MAX_BLOCKS:
            self._compact()

    def _compact(self) -> None:
        """Merge every block into one, without the dead rows."""
        if not self._blocks:
            return
        n_terms = len(self._vocab)
        mats, keys, lens = [], [], []
        for blk, dead, ln in zip(self._blocks, self._dead, self._lens, strict=True):
            live = np.flatnonzero(~dead)
            m = blk.matrix.tocsr()[live]
            m.resize((len(live), n_terms))
            mats.append(m)
            keys += [blk.keys[i] for i in live]
            lens.append(ln[live])
        merged = sparse.vstack(mats, format="csc") if mats else None
        self._blocks = [_Block(keys, merged)] if merged is not None else []
        self._dead = [np.zeros(len(keys), dtype=bool)]
        self._lens = [np.concatenate(lens)]
        self._rows = {k: (0, r) for r, k in enumerate(keys)}
        self._n_dead = 0

    # --- queries -----------------------------------------------------------------------
    def _query_weights(self, query: Query) -> dict[int, float]:
        n = len(self._doc_terms)
        out: dict[int, float] = {}
        for t, qtf in query.counts.items():
            tid = self._vocab.get(t)
            if tid is None:
                continue
            df = int(self._df[tid])
            if df <= 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            out[tid] = idf * (1 + math.log(qtf))
        return dict(sorted(out.items(), key=lambda kv: -kv[1])[:MAX_QUERY_TERMS])

    def search(self, query: Query | str, k: int = 5,
               accept: Callable[[str], bool] | None = None,
               exclude: Sequence[str] = ()) -> list[Hit]:
        """The k best documents for the query with a positive score, best first; `accept`
        filters (a caller's scope, a status), `exclude` names keys never to return."""
        self._flush()
        q = analyze(query, self._extractor) if isinstance(query, str) else query
        qw = self._query_weights(q)
        if not qw or k <= 0:
            return []
        candidates: list[tuple[float, str]] = []
        skip = set(exclude)
        for blk, dead in zip(self._blocks, self._dead, strict=True):
            scores = np.zeros(blk.matrix.shape[0], dtype=np.float32)
            m = blk.matrix
            visited = 0
            for n, (tid, w) in enumerate(qw.items()):
                if tid >= m.shape[1]:
                    continue
                lo, hi = m.indptr[tid], m.indptr[tid + 1]
                visited += hi - lo
                if visited > POSTINGS_BUDGET and n >= 3:
                    break
                if lo != hi:
                    scores[m.indices[lo:hi]] += w * m.data[lo:hi]
            if self._n_dead:
                scores[dead] = 0.0
            # partition only the documents that share a term (scores are never negative)
            cand = np.flatnonzero(scores)
            if cand.size == 0:
                continue
            cs = scores[cand]
            # a filter may refuse some: ask for more than k at once rather than repeat
            want = min(cand.size, (k + len(skip)) * (4 if accept else 1))
            while True:
                part = (np.argpartition(cs, cand.size - want)[cand.size - want:]
                        if want < cand.size else np.arange(cand.size))
                got: list[tuple[float, str]] = []
                for i in part[np.argsort(-cs[part], kind="stable")]:
                    key = blk.keys[cand[i]]
                    if key not in skip and (accept is None or accept(key)):
                        got.append((float(cs[i]), key))
                        if len(got) == k:
                            break
                if len(got) >= k or want >= cand.size:
                    candidates += got
                    break
                want = min(cand.size, want * 4)
        candidates.sort(key=lambda c: (-c[0], c[1]))
        return [Hit(key, round(score, 4)) for score, key in candidates[:k]]

    def explain(self, query: Query, key: str, limit: int = 8) -> Why:
        """What the query and the document share: its words (as the query wrote them, the
        rarest first) and the identifiers among them."""
        self._flush()
        found = self._doc_terms.get(key)
        ids = set(found.tolist()) if found is not None else set()
        shown: dict[str, tuple[float, str]] = {}
        for start, end, t in query.spans:
            tid = self._vocab.get(t)
            if tid is not None and tid in ids and t not in shown:
                shown[t] = (float(self._df[tid]), query.text[start:end])
        entities = []
        for written, ts in query.entities:
            tids = [self._vocab.get(t) for t in ts]
            if tids and all(tid is not None and tid in ids for tid in tids):
                entities.append(written)
        words = [w for _, w in sorted(shown.values())]
        return Why(terms=tuple(w for w in words if w not in entities)[:limit],
                   entities=tuple(dict.fromkeys(entities))[:limit])

    def memory_bytes(self) -> int:
        """The matrices' arrays (the dictionaries around them are not counted)."""
        total = self._df.nbytes
        for blk, dead, ln in zip(self._blocks, self._dead, self._lens, strict=True):
            m = blk.matrix
            total += m.data.nbytes + m.indices.nbytes + m.indptr.nbytes + dead.nbytes + ln.nbytes
        return total


_RUN = re.compile(r"[A-Za-z0-9]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def highlight(text: str, query: str) -> list[tuple[int, int]]:
    """The ranges of `text` whose terms are terms of `query` (to mark as matches). The text is
    not segmented (jieba over a long article costs milliseconds): Latin and digit runs are
    compared by term, and the query's Chinese words are found where they occur."""
    wanted = set(terms(query[:MAX_QUERY_CHARS]))
    found = [(m.start(), m.end()) for m in _RUN.finditer(text) if term(m.group()) in wanted]
    for word in (w for w in wanted if _HAN.search(w)):
        at = text.find(word)
        while at != -1:
            found.append((at, at + len(word)))
            at = text.find(word, at + len(word))
    found.sort(key=lambda r: (r[0], -r[1]))
    out: list[tuple[int, int]] = []
    for start, end in found:
        if not out or start >= out[-1][1]:
            out.append((start, end))
    return out


def snippet(text: str, query: str, width: int = 160) -> tuple[str, list[tuple[int, int]]]:
    """A window of `text` around its densest run of query terms, and the matched ranges within
    the window (offsets into the returned string). Plain text in, plain text out: the caller
    renders the ranges as marks, never as markup built from the text."""
    flat = " ".join(text[:SNIPPET_SCAN].split())
    marks = highlight(flat, query)
    if not marks:
        return flat[:width], []
    best, best_n = 0, 0
    for i, (s, _) in enumerate(marks):
        n = sum(1 for s2, e2 in marks[i:] if e2 <= s + width)
        if n > best_n:
            best, best_n = i, n
    start = max(0, marks[best][0] - width // 4)
    end = min(len(flat), start + width)
    start = max(0, end - width)
    window = flat[start:end]
    return window, [(s - start, e - start) for s, e in marks if s >= start and e <= end]
