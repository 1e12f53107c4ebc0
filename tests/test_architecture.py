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


# --- inside gateway/: handlers stand alone, no cycles, one place adds routes (issue 12) -------

GATEWAY = ROOT / "gateway"
HANDLERS = "deskgate.gateway.web.api"
# Modules of gateway/web/api/ that hold no handlers: every handler module may import them.
SHARED_API = frozenset({f"{HANDLERS}.common"})
# The composition root and the route table: the only modules that may add routes.
ROUTE_OWNERS = frozenset({"deskgate.gateway.web.app", "deskgate.gateway.web.routes"})
ROUTE_CALLS = frozenset({"add_route", "add_get", "add_post", "add_put", "add_patch",
                         "add_delete", "add_head", "add_static", "add_view", "add_routes",
                         "api_route"})


def _module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["deskgate", *parts])


def _gateway_modules(root: Path = ROOT) -> dict[str, Path]:
    return {_module_name(p, root): p for p in sorted((root / "gateway").rglob("*.py"))}


def _imported_modules(path: Path, known: set[str] | dict[str, Path]) -> set[str]:
    """The known modules a file imports, at any depth. `from pkg import name` counts as an
    import of pkg.name when that is a module, else of pkg."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    found.add(f"{node.module}.{alias.name}")
                elif node.module in known:
                    found.add(node.module)
    return found


def _handler_imports(root: Path = ROOT) -> list[str]:
    modules = _gateway_modules(root)
    handlers = {m for m in modules if m.startswith(f"{HANDLERS}.") and m not in SHARED_API}
    wrong = []
    for name in sorted(handlers):
        for target in sorted(_imported_modules(modules[name], modules) & (handlers - {name})):
            wrong.append(f"{name} imports {target}")
    return wrong


def _cycles(root: Path = ROOT) -> list[list[str]]:
    modules = _gateway_modules(root)
    # A package's __init__ holds a docstring only; importing a submodule is not a use of it.
    graph = {m: _imported_modules(p, modules) - {m} - {x for x in modules if m.startswith(x + ".")}
             for m, p in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}          # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def _route_adders(root: Path = ROOT) -> list[str]:
    wrong = []
    for name, path in _gateway_modules(root).items():
        if name in ROUTE_OWNERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                called = (func.attr if isinstance(func, ast.Attribute)
                          else func.id if isinstance(func, ast.Name) else "")
                if called in ROUTE_CALLS:
                    wrong.append(f"{path.relative_to(root)}:{node.lineno} calls {called}")
    return wrong


def test_no_handler_module_imports_another() -> None:
    assert _handler_imports() == [], "handlers share code through gateway/web/api/common.py"


def test_the_gateway_import_graph_has_no_cycle() -> None:
    assert _cycles() == []


def test_only_the_app_factory_and_the_route_table_add_routes() -> None:
    assert _route_adders() == [], "list every route in gateway/web/routes.py"


def test_the_gateway_checks_see_what_they_forbid(tmp_path: Path) -> None:
    api = tmp_path / "gateway" / "web" / "api"
    api.mkdir(parents=True)
    (api / "common.py").write_text("X = 1\n", encoding="utf-8")
    (api / "a.py").write_text("from deskgate.gateway.web.api import b\n"
                              "from deskgate.gateway.web.api.common import X\n", encoding="utf-8")
    (api / "b.py").write_text("def f():\n    import deskgate.gateway.web.api.a\n",
                              encoding="utf-8")
    (tmp_path / "gateway" / "web" / "health.py").write_text(
        "def setup(app):\n    app.router.add_get('/x', None)\n", encoding="utf-8")
    assert _handler_imports(tmp_path) == ["deskgate.gateway.web.api.a imports "
                                          "deskgate.gateway.web.api.b",
                                          "deskgate.gateway.web.api.b imports "
                                          "deskgate.gateway.web.api.a"]
    assert _cycles(tmp_path) == [["deskgate.gateway.web.api.a", "deskgate.gateway.web.api.b",
                                  "deskgate.gateway.web.api.a"]]
    assert _route_adders(tmp_path) == ["gateway/web/health.py:2 calls add_get"]


# redis-py turns the cancellation of a pending read into a ConnectionError. A retry loop that
# catches it and goes round again never ends once cancelled: the test run's loop teardown then
# waits forever (seen as a 300 s timeout in CI). Such handlers must first call
# raise_if_cancelled (queue/connection.py), or leave the loop by raising.
_SWALLOWS_CANCEL = {"Exception", "BaseException", "RedisError", "ConnectionError"}


def _handler_names(handler: ast.ExceptHandler) -> set[str]:
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", "") for t in types if t}


def _ends_or_rechecks(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise | ast.Return | ast.Break):
            return True
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "raise_if_cancelled":
            return True
    return False


def retry_loops_that_swallow_cancellation(source: str, name: str) -> list[str]:
    found = []
    for fn in ast.walk(ast.parse(source, name)):
        if not isinstance(fn, ast.AsyncFunctionDef):
            continue
        for loop in (n for n in ast.walk(fn) if isinstance(n, ast.While)):
            for handler in (n for n in ast.walk(loop) if isinstance(n, ast.ExceptHandler)):
                if _handler_names(handler) & _SWALLOWS_CANCEL and not _ends_or_rechecks(handler):
                    found.append(f"{name}:{handler.lineno} in {fn.name}")
    return found


def test_retry_loops_end_when_cancelled() -> None:
    offenders = [hit for part in ("gateway", "queue", "connectors")
                 for path in sorted((ROOT / part).rglob("*.py"))
                 for hit in retry_loops_that_swallow_cancellation(
                     path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert offenders == []


def test_the_cancellation_rule_sees_a_swallowing_loop() -> None:
    bad = ("async def poll(r):\n    while True:\n        try:\n            await r.get('k')\n"
           "        except RedisError as exc:\n            log(exc)\n")
    good = bad.replace("log(exc)", "raise_if_cancelled(exc)\n            log(exc)")
    assert retry_loops_that_swallow_cancellation(bad, "bad.py") == ["bad.py:5 in poll"]
    assert retry_loops_that_swallow_cancellation(good, "good.py") == []


# --- one client address (gateway/web/client_address.py) --------------------------------------
# Behind a proxy the connection's peer is the proxy: a limit counting it counts every customer
# at once. Only client_address.py reads it, and believes a forwarded header only from a trusted
# proxy; every other module asks it.
CLIENT_ADDRESS = Path("gateway") / "web" / "client_address.py"


def _peer_readers(root: Path = ROOT) -> list[str]:
    wrong = []
    for part in ("gateway", "connectors", "queue", "triage", "models"):
        for path in sorted((root / part).rglob("*.py")):
            if path.relative_to(root) == CLIENT_ADDRESS:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                named = (node.attr if isinstance(node, ast.Attribute)
                         else node.args[1].value if isinstance(node, ast.Call)
                         and getattr(node.func, "id", "") == "getattr" and len(node.args) > 1
                         and isinstance(node.args[1], ast.Constant) else None)
                if named == "remote":
                    wrong.append(f"{path.relative_to(root)}:{node.lineno} reads .remote")
    return wrong


def test_only_client_address_reads_the_peer() -> None:
    assert _peer_readers() == [], "use client_address(request) (gateway/web/client_address.py)"


def test_the_peer_rule_sees_a_reader(tmp_path: Path) -> None:
    web = tmp_path / "gateway" / "web"
    web.mkdir(parents=True)
    (web / "client_address.py").write_text("def f(r):\n    return r.remote\n", encoding="utf-8")
    (web / "csat.py").write_text("def f(request):\n    x = 1\n    return request.remote or ''\n",
                                 encoding="utf-8")
    (web / "sly.py").write_text("def f(request):\n    return getattr(request, 'remote')\n",
                                encoding="utf-8")
    assert _peer_readers(tmp_path) == ["gateway/web/csat.py:3 reads .remote",
                                       "gateway/web/sly.py:2 reads .remote"]
