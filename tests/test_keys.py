"""Redis key names are defined once, in queue/keys.py: the Lua scripts take their keys from
KEYS or from the key functions rendered from keys.py, never by spelling a name, and each
script's header lists every key it touches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from deskgate.gateway.config import ConfigError, parse_config
from deskgate.queue.keys import Keys, key_names, key_template, lua_key_functions, tenant_prefix
from deskgate.queue.scripts import LUA_DIR, lua, source

SCRIPTS = sorted(p.stem for p in LUA_DIR.glob("*.lua") if p.stem != "_lib")
# a key expression a script may pass: KEYS[n] or one call of a K function, nothing appended
KEY_EXPR = r"KEYS\[\d+\]|K\.\w+\((?:[^()]|\([^()]*\))*\)"
BOUND = re.compile(rf"^\s*(?:local\s+)?(\w+)\s*=\s*(?:{KEY_EXPR})\s*$", re.M)
LOOP_OVER_KEYS = re.compile(r"for\s+\w+\s*,\s*(\w+)\s+in\s+ipairs\(KEYS\)")
LIB_FUNCTION = re.compile(r"^local function (\w+)\(", re.M)


def _call_args(code: str) -> list[tuple[str, str]]:
    """(command, its first argument) of every redis.call, arguments split at the top level."""
    out = []
    for m in re.finditer(r"redis\.call\(", code):
        args, depth, quote, start = [], 0, "", m.end()
        for i in range(m.end(), len(code)):
            c = code[i]
            if quote:
                quote = "" if c == quote and code[i - 1] != "\\" else quote
            elif c in "'\"":
                quote = c
            elif c in "({[":
                depth += 1
            elif c in ")}]" and depth:
                depth -= 1
            elif c in ",)" and depth == 0:
                args.append(code[start:i].strip())
                start = i + 1
                if c == ")" or len(args) == 2:
                    break
        out.append((args[0].strip("'"), args[1] if len(args) > 1 else ""))
    return out


def _code(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def _header_keys(text: str) -> tuple[set[str], set[str]]:
    """(every key family the header lists, those it says arrive in KEYS)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- Keys:"))
    block = [lines[start].removeprefix("-- Keys:")]
    for line in lines[start + 1:]:
        if not line.startswith("--      "):
            break
        block.append(line[2:])
    listed = " ".join(block).split(";")[0]
    in_keys = set(re.findall(r"(\w+) \(KEYS\[", listed))
    return set(re.findall(r"\b([a-z_]+)\b(?![^(]*\))", listed)), in_keys


def _lib_keys() -> dict[str, set[str]]:
    """The key families each _lib.lua function touches, including through the functions it calls."""
    text = _code(source("_lib"))
    bodies = dict(zip(LIB_FUNCTION.findall(text), re.split(LIB_FUNCTION, text)[2::2], strict=True))
    direct = {f: set(re.findall(r"\bK\.(\w+)\(", b)) for f, b in bodies.items()}
    calls = {f: {g for g in bodies if g != f and re.search(rf"\b{g}\(", b)}
             for f, b in bodies.items()}
    changed = True
    while changed:
        changed = False
        for f, called in calls.items():
            for g in called:
                if not direct[g] <= direct[f]:
                    direct[f] |= direct[g]
                    changed = True
    return direct


def _assert_keys_from_keys_or_k(name: str, code: str) -> None:
    """The key argument of every redis.call is KEYS[n], K.<name>(...) or a variable set from
    one of them."""
    bound = set(BOUND.findall(code)) | set(LOOP_OVER_KEYS.findall(code))
    calls = _call_args(code)
    assert calls
    for command, arg in calls:
        assert re.fullmatch(KEY_EXPR, arg) or arg in bound, (
            f"{name}.lua: {command} on {arg!r}, which is neither from KEYS nor from K")


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_take_every_key_from_keys_or_the_key_functions(name: str) -> None:
    text = source(name)
    code = _code(text)
    assert not re.search(r"ARGV\[1\]\s*\.\.|\bp\s*\.\.", code), "a key is built from the prefix"
    defined = set(key_names())
    used = set(re.findall(r"\bK\.(\w+)\(", code))
    assert used <= defined, f"K functions keys.py does not define: {used - defined}"
    _assert_keys_from_keys_or_k(name, code)


@pytest.mark.parametrize("bad", [
    "redis.call('HGET', ARGV[1] .. 'ticket:' .. tid, 'status')",
    "redis.call('HGET', K.ticket(tid) .. ':notes', 'x')",
    "local tkey = K.ticket(tid) .. ':msgs'\nredis.call('RPUSH', tkey, mid)",
    "redis.call('GET', 'dg:secret:tag')",
])
def test_the_check_catches_a_key_built_by_hand(bad: str) -> None:
    with pytest.raises(AssertionError, match="neither from KEYS nor from K"):
        _assert_keys_from_keys_or_k("bad", bad)


def test_the_shared_library_takes_its_keys_from_the_key_functions() -> None:
    code = _code(source("_lib"))
    _assert_keys_from_keys_or_k("_lib", code)
    assert set(re.findall(r"\bK\.(\w+)\(", code)) <= set(key_names())


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_header_lists_the_keys_it_touches(name: str) -> None:
    text = source(name)
    code = _code(text)
    listed, in_keys = _header_keys(text)
    touched = set(re.findall(r"\bK\.(\w+)\(", code))
    for function, lib_keys in _lib_keys().items():
        if re.search(rf"(?<![.\w]){function}\(", code):
            touched |= lib_keys
    assert listed <= set(key_names()), listed - set(key_names())
    assert touched <= listed, f"{name}.lua touches {touched - listed} without listing them"
    assert listed <= touched | in_keys, f"{name}.lua lists {listed - touched - in_keys} it never uses"
    if re.search(r"KEYS\[", code):
        assert in_keys, f"{name}.lua reads KEYS but its header does not say which"
    # every script declares a key, so that a cluster client can route it
    assert in_keys


SAMPLE_ARGS = ["t-1", "李雷@例子.中国", "a:b|c", "o'k\\"]


@pytest.mark.parametrize("prefix", ["dg:", tenant_prefix("dg:", "acme")])
def test_the_lua_key_functions_name_every_key_as_keys_py_does(r: redis.Redis,
                                                              prefix: str) -> None:
    keys = Keys(prefix)
    for name in key_names():
        params, _ = key_template(name)
        args = SAMPLE_ARGS[:len(params)]
        member = getattr(keys, name)
        expected = member(*args) if params else member
        call = f"return K.{name}({', '.join(f'ARGV[{i + 2}]' for i in range(len(params)))})"
        got = r.eval(lua_key_functions([name]) + call, 0, prefix, *args)
        assert got.decode() == expected, name


def test_a_script_is_sent_with_the_key_functions_it_uses_and_no_others() -> None:
    text = lua("claim", lib=True)
    assert "function K.agent_tickets(" in text and "function K.queue(" in text
    assert "function K.customer(" not in text
    assert lua("ingest") == source("ingest")      # it takes every key in KEYS: nothing added


def test_a_tenant_puts_every_key_in_one_hash_slot() -> None:
    keys = Keys(tenant_prefix("dg:", "acme"))
    assert keys.ticket("DG-1") == "dg:{acme}:ticket:DG-1"
    slots = {key_slot(k.encode()) for k in (keys.ticket("DG-1"), keys.ingest, keys.leases,
                                               keys.agent_tickets("李雷"), keys.queue("billing@2"))}
    assert len(slots) == 1
    assert Keys(tenant_prefix("dg:", "")).ticket("DG-1") == "dg:ticket:DG-1"
    with pytest.raises(ValueError, match="tenant"):
        tenant_prefix("dg:", "a}b")


def test_no_script_file_is_left_unchecked() -> None:
    assert {p.stem for p in Path(LUA_DIR).glob("*.lua")} == {*SCRIPTS, "_lib"}
    # every script by name: one added, renamed or dropped is a change to review here
    assert SCRIPTS == [
        "access_token_drop", "apply_messages", "auto_answer", "claim", "csat_answer", "csat_offer",
        "csat_send", "expire_leases", "ingest", "kb_append", "mailbox_lease", "model_switch", "overflow_state", "pressure",
        "push", "reply", "resolve", "resolve_customers", "revoke_token", "rollup_apply",
        "rollup_sum", "send", "sla_facts", "sla_resume", "sla_start", "sla_sweep",
        "summary_claim", "ticket_action"]


def test_the_config_names_a_tenant_or_keeps_the_old_key_names() -> None:
    assert parse_config("").keys().ticket("DG-1") == "dg:ticket:DG-1"   # standalone data stays
    assert parse_config("tenant: acme").keys().ticket("DG-1") == "dg:{acme}:ticket:DG-1"
    with pytest.raises(ConfigError, match="tenant"):
        parse_config("tenant: 'ac}me'")
