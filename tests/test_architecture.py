"""Rules of the house that a reader should not have to check by hand: which part may import
which (DESIGN.md: gateway → connectors, triage, queue → models; models imports nothing of
ours), and that the console speaks both languages with the same keys and placeholders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What each part may import of ours, besides itself.
ALLOWED: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "connectors": frozenset({"models"}),
    "triage": frozenset({"models"}),
    "queue": frozenset({"models"}),
    "gateway": frozenset({"models", "connectors", "triage", "queue"}),
}


def _our_imports(path: Path) -> set[str]:
    """The root parts of deskgate a module imports, at any depth (function-level imports too)."""
    parts: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            bits = name.split(".")
            if bits[0] == "deskgate" and len(bits) > 1:
                parts.add(bits[1])
    return parts


def test_dependencies_point_one_way() -> None:
    wrong = []
    for part, allowed in ALLOWED.items():
        for path in sorted((ROOT / part).rglob("*.py")):
            for target in _our_imports(path) - allowed - {part}:
                wrong.append(f"{path.relative_to(ROOT)} imports deskgate.{target}")
    assert wrong == [], "dependency direction broken:\n" + "\n".join(wrong)


def test_the_dependency_check_sees_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import deskgate.queue.keys\n"
                     "def f():\n    from deskgate.gateway import app\n", encoding="utf-8")
    assert _our_imports(probe) == {"queue", "gateway"}


_I18N = ROOT / "gateway" / "web" / "static" / "console" / "js" / "i18n.js"
_ENTRY = re.compile(r'"([A-Za-z0-9_.\-]+)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _strings() -> dict[str, dict[str, str]]:
    source = _I18N.read_text(encoding="utf-8")
    en_at, zh_at = source.index("\n  en: {"), source.index("\n  zh: {")
    end = source.index("\n};", zh_at)
    return {"en": dict(_ENTRY.findall(source[en_at:zh_at])),
            "zh": dict(_ENTRY.findall(source[zh_at:end]))}


def test_console_languages_have_the_same_keys() -> None:
    strings = _strings()
    en, zh = strings["en"], strings["zh"]
    assert len(en) > 100, "the parser found too few strings: has i18n.js changed shape?"
    assert sorted(en.keys() - zh.keys()) == [], "keys missing in zh"
    assert sorted(zh.keys() - en.keys()) == [], "keys missing in en"


def test_console_placeholders_match_across_languages() -> None:
    strings = _strings()
    slot = re.compile(r"\{(\w+)\}")
    differ = {k: (v, strings["zh"][k]) for k, v in strings["en"].items()
              if k in strings["zh"] and set(slot.findall(v)) != set(slot.findall(strings["zh"][k]))}
    assert differ == {}
