"""The app's routes as the OpenAPI document lists them, each with the role it declares (read
from its dependencies), and minimal request bodies built from the document's schemas."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, routing

from mdhub.api import auth
from mdhub.app import create_app
from mdhub.config import Settings
from mdhub.core.security import ROLES

# Needs no credential (everything else under /api/v1 needs one).
PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/compat/veracity/oauth2/token"),
    }
)
# Served by FastAPI itself, outside the OpenAPI document.
UNDOCUMENTED = (("GET", "/openapi.json"), ("GET", "/docs"))
AUTHENTICATED = "authenticated"
INSTANCE_ADMIN = "instance_admin"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Route:
    """One operation: its method, path template, the role it declares (None: none), and its
    OpenAPI operation object."""

    method: str
    path: str
    needs: str | None
    operation: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return (self.method, self.path) in PUBLIC

    @property
    def under_api(self) -> bool:
        return self.path.startswith("/api/v1/")

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.operation.get("parameters", []) if p.get("in") == "path"]


def _calls(dependant: Any) -> Iterator[object]:
    for sub in getattr(dependant, "dependencies", ()):
        yield sub.call
        yield from _calls(sub)


def declared_role(dependant: Any) -> str | None:
    """The strongest declaration in a route's dependency tree: `instance_admin`, a
    `RequireRole`'s role, `authenticated` (`current_principal` alone), or None."""
    calls = list(_calls(dependant)) if dependant is not None else []
    if any(call is auth.instance_admin for call in calls):
        return INSTANCE_ADMIN
    roles = [call.role for call in calls if isinstance(call, auth.RequireRole)]
    if roles:
        return max(roles, key=ROLES.index)
    if any(call is auth.current_principal for call in calls):
        return AUTHENTICATED
    return None


def _route_objects(app: FastAPI) -> list[Any]:
    iterate = getattr(routing, "iter_route_contexts", None)
    return list(iterate(app.routes)) if iterate is not None else list(app.routes)


def discover(app: FastAPI) -> list[Route]:
    """Every operation of the OpenAPI document (and FastAPI's own pages), with its role."""
    found = _route_objects(app)
    routes: list[Route] = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            matches = [
                r
                for r in found
                # path_format: the path without its convertors (`{key:path}` is `{key}`).
                if getattr(r, "path_format", getattr(r, "path", None)) == path
                and method.upper() in (getattr(r, "methods", None) or ())
            ]
            assert matches, f"no route serves {method.upper()} {path} of the OpenAPI document"
            needs = declared_role(getattr(matches[0], "dependant", None))
            routes.append(Route(method.upper(), path, needs, operation))
    routes += [Route(method, path, None, {}) for method, path in UNDOCUMENTED]
    return routes


def app_routes() -> list[Route]:
    """The routes of an app that is built but never started (no database is opened)."""
    return discover(create_app(Settings(data_dir=Path("unused-data-dir"))))


def request_schema(route: Route, content_type: str = "application/json") -> dict[str, Any] | None:
    body = route.operation.get("requestBody", {})
    media = body.get("content", {}).get(content_type)
    return media.get("schema") if media else None


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def minimal(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """The smallest value a JSON schema accepts (required properties only), roughly."""
    schema = resolve(schema, document)
    for choice in ("anyOf", "oneOf", "allOf"):
        if choice in schema:
            options = [s for s in schema[choice] if resolve(s, document).get("type") != "null"]
            return minimal(options[0] if options else schema[choice][0], document)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: minimal(properties.get(name, {}), document) for name in schema.get("required", [])
        }
    if kind == "array":
        return [minimal(schema.get("items", {}), document)] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "x1"
