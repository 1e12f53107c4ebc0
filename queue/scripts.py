"""Loads the Lua scripts kept beside this module in lua/; each script documents itself."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def lua(name: str) -> str:
    return resources.files("deskgate.queue").joinpath("lua", f"{name}.lua").read_text()
