"""Loads the Lua scripts kept beside this module in lua/; each script documents itself.

A script never spells a key name: it receives keys in KEYS or builds the data-dependent ones
(the ticket a claim pops, a customer's tickets) with the functions `K.<name>(...)` that
queue/keys.py renders from its own definitions. Only the functions a script uses are put in
front of it, so a script pays for no more than it calls."""

from __future__ import annotations

import re
import weakref
from functools import cache
from pathlib import Path
from typing import Any

from redis.commands.core import AsyncScript

from deskgate.queue.keys import lua_key_functions

# Path(__file__), not importlib.resources: the root folders are namespace packages, and
# resources.files() cannot read a namespace package under an editable install.
LUA_DIR = Path(__file__).parent / "lua"
KEY_CALL = re.compile(r"\bK\.(\w+)\(")


def source(name: str) -> str:
    """The script's own text, as it is in lua/<name>.lua."""
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


@cache
def lua(name: str, *, lib: bool = False) -> str:
    """The script as sent to Redis: the key functions it uses, lua/_lib.lua when `lib` (the
    audit trail and the state changes the work scripts share), then the script."""
    body = (source("_lib") + "\n" + source(name)) if lib else source(name)
    used = KEY_CALL.findall(body)
    return (lua_key_functions(used) + body) if used else body


# client -> (name, lib) -> its registered script. The API builds its stores per request, and
# registering hashes the whole script text (SHA1 of several KB) each time.
_REGISTERED: weakref.WeakKeyDictionary[Any, dict[tuple[str, bool], AsyncScript]] = \
    weakref.WeakKeyDictionary()


def registered(client: Any, name: str, *, lib: bool = False) -> AsyncScript:
    """`client.register_script(lua(name, lib=lib))`, made once per client."""
    known = _REGISTERED.setdefault(client, {})
    found = known.get((name, lib))
    if found is None:
        found = known[(name, lib)] = client.register_script(lua(name, lib=lib))
    return found
