"""Loads the Lua scripts kept beside this module in lua/; each script documents itself."""

from __future__ import annotations

from functools import cache
from pathlib import Path

# Path(__file__), not importlib.resources: the root folders are namespace packages, and
# resources.files() cannot read a namespace package under an editable install.
LUA_DIR = Path(__file__).parent / "lua"


@cache
def lua(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
