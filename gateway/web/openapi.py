"""The OpenAPI document, built from the routes themselves: every API route is added through
`api_route` (gateway/web/routes.py), which records its method, path, roles, policy
(gateway/web/scope.py), summary and body type, so the document cannot drift from what is
served. A handler without declared roles and policy cannot be added."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

OPERATIONS = web.AppKey("openapi_operations", list)


class Operation(msgspec.Struct, frozen=True):
    method: str
    path: str
    summary: str
    roles: tuple[str, ...]
    policy: str
    scope: str
    body: Any = None
    tag: str = "api"


def document(app: web.Application) -> dict[str, Any]:
    ops: list[Operation] = app.get(OPERATIONS, [])
    bodies = [op.body for op in ops if op.body is not None]
    schemas, components = msgspec.json.schema_components(
        bodies, ref_template="#/components/schemas/{name}")
    body_schema = dict(zip([id(b) for b in bodies], schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        item: dict[str, Any] = {
            "summary": op.summary, "tags": [op.tag],
            "description": f"Roles: {', '.join(op.roles)}" if op.roles else "",
            "x-deskgate-policy": op.policy, "x-deskgate-scope": op.scope,
            "parameters": [{"name": p, "in": "path", "required": True,
                            "schema": {"type": "string"}}
                           for p in re.findall(r"{(\w+)}", op.path)],
            "responses": {"200": {"description": "OK"},
                          "401": {"description": "missing or unknown token"},
                          "403": {"description": "role not allowed"}},
        }
        if op.roles:
            item["security"] = [{"bearer": []}]
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": body_schema[id(op.body)]}}}
        paths.setdefault(op.path, {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Deskgate", "version": "1"},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
