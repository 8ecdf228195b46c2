"""Who may call what: every route of the OpenAPI document declares a role, and answers each of
no credential, reader, writer, admin and another workspace's admin as that role says
(401 without a credential, 403 below the role, 404 for another workspace's objects;
invariant 8). A route without a declared role fails here."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mdhub.api import auth
from mdhub.core.security import role_allows
from mdhub.services import accounts, datasets, indexes, jobs, webhooks, workspaces
from tests.security.routes import (
    AUTHENTICATED,
    INSTANCE_ADMIN,
    PUBLIC,
    Route,
    app_routes,
    minimal,
    request_schema,
)
from tests.security.support import (
    ADMIN_PASSWORD,
    API,
    USER_PASSWORD,
    Served,
    assert_error,
    assert_unauthorized,
    bearer,
)

DEFAULT = "default"
FOREIGN = "frgn-ws"
# Every object of the default workspace is named with this marker, none of the other's.
MARKER = "dflt"
MAIN = "dflt-main"
SCHEMA = {
    "fields": [{"name": "id", "type": "string"}, {"name": "name", "type": "string"}],
    "primaryKey": ["id"],
}
CSV = b"id,name\nz1,zed\n"
ROLE_OF = {"reader": "reader", "writer": "writer", "admin": "admin", "foreign": "admin"}
USERS = {
    "reader": "dflt-reader",
    "writer": "dflt-writer",
    "admin": "dflt-admin",
    "foreign": "frgn-admin",
    "instance": "admin",
}
# What a list answers another workspace's admin must not contain, besides the marker.
LIST_FIELDS = {f"{API}/users": ("username", {"admin"}), f"{API}/workspaces": ("name", {DEFAULT})}


@dataclass
class World:
    """The default workspace (a dataset with a finished job, keys and users per role) and
    another workspace with objects of its own."""

    served: Served
    keys: dict[str, str]
    job_id: int
    foreign_job_id: int
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def fresh(self, who: str, kind: str) -> str:
        return f"{'frgn' if who == 'foreign' else MARKER}-{kind}-{next(self.counter)}"

    def credential(self, who: str, *, token: bool) -> dict[str, str]:
        if who == "none":
            return {}
        if token or who == "instance":
            password = ADMIN_PASSWORD if who == "instance" else USER_PASSWORD
            return bearer(self.served.login(USERS[who], password))
        return bearer(self.keys[who])

    # Objects made for one request each (deleted, revoked, started or cancelled by it).

    def victim_user(self) -> str:
        name = self.fresh("default", "user")
        accounts.create_user(self.served.dbs, name, USER_PASSWORD, workspace=DEFAULT, role="reader")
        return name

    def victim_key(self) -> int:
        return self.served.key(DEFAULT, self.fresh("default", "key"), "reader")[0]

    def victim_webhook(self) -> int:
        url = f"https://{self.fresh('default', 'hook')}.test/"
        return int(webhooks.create_webhook(self.served.dbs, DEFAULT, url)["id"])

    def victim_dataset(self, schema: dict[str, Any] | None = None) -> str:
        name = self.fresh("default", "data")
        datasets.create_dataset(self.served.dbs, DEFAULT, name, schema=schema, keys=["id"])
        return name

    def victim_index(self) -> tuple[str, str]:
        """A dataset with an index on `name`: (dataset, index)."""
        name = self.victim_dataset(SCHEMA)
        return name, indexes.create_index(self.served.dbs, DEFAULT, name, ["name"])["name"]

    def waiting_job(self, *, uploaded: bool = False) -> int:
        """A dry-run job in `created` with one part `p1` (its bytes uploaded or not)."""
        part = jobs.NewPart(dataset=MAIN, operation="upsert", name="p1")
        if uploaded:
            writer = self.served.app.state.storage.writer()
            writer.write(CSV)
            stored = writer.commit()
            part = jobs.NewPart(
                dataset=MAIN,
                operation="upsert",
                name="p1",
                location=stored.key,
                bytes=stored.bytes,
                checksum=f"sha256:{stored.sha256}",
            )
        return jobs.create_job(self.served.dbs, DEFAULT, [part], dry_run=True, start=False)


@pytest.fixture(scope="module")
def world(served: Served) -> World:
    dbs = served.dbs
    datasets.create_dataset(dbs, DEFAULT, MAIN, schema=SCHEMA)
    workspaces.create_workspace(dbs, FOREIGN, admin_user_id=None)
    datasets.create_dataset(dbs, FOREIGN, "frgn-data", schema=SCHEMA)
    keys = {
        who: served.key(DEFAULT, f"dflt-{who}-key", who)[1] for who in ROLE_OF if who != "foreign"
    }
    keys["foreign"] = served.key(FOREIGN, "frgn-admin-key", "admin")[1]
    for who, username in USERS.items():
        if who not in ("foreign", "instance"):
            accounts.create_user(dbs, username, USER_PASSWORD, workspace=DEFAULT, role=who)
    accounts.create_user(dbs, USERS["foreign"], USER_PASSWORD, workspace=FOREIGN, role="admin")
    finished = {}
    for who, dataset in (("writer", MAIN), ("foreign", "frgn-data")):
        response = served.post(
            f"{API}/datasets/{dataset}/jobs",
            json={"operation": "upsert", "records": [{"id": "a1", "name": "first"}]},
            headers=bearer(keys[who]),
        )
        assert response.status_code == 202, response.text
        job = served.wait_job(response.json()["id"], bearer(keys[who]))
        assert job["status"] == "succeeded", job
        finished[who] = int(job["id"])
    return World(served, keys, finished["writer"], finished["foreign"])


@dataclass(frozen=True)
class Request:
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """How to call a route (`build(world, who)` may make the objects it names), what another
    workspace's admin gets (`404`, `list`: none of ours, `own`: acts in its workspace), and
    whether it needs a login token rather than an API key."""

    build: Callable[[World, str], Request]
    foreign: str
    token: bool = False
    known: bool = True


def _json(url: str, body: Any) -> Request:
    return Request(url, {"json": body})


def _plain(url: str) -> Callable[[World, str], Request]:
    return lambda w, who: Request(url)


def _job(suffix: str = "") -> Callable[[World, str], Request]:
    return lambda w, who: Request(f"{API}/jobs/{w.job_id}{suffix}")


PLANS: dict[tuple[str, str], Plan] = {
    ("GET", "/healthz"): Plan(_plain("/healthz"), "own"),
    ("GET", "/readyz"): Plan(_plain("/readyz"), "own"),
    ("GET", "/metrics"): Plan(_plain("/metrics"), "own"),
    ("GET", "/openapi.json"): Plan(_plain("/openapi.json"), "own"),
    ("GET", "/docs"): Plan(_plain("/docs"), "own"),
    ("POST", f"{API}/auth/login"): Plan(
        lambda w, who: _json(
            f"{API}/auth/login", {"username": USERS["reader"], "password": USER_PASSWORD}
        ),
        "own",
    ),
    ("POST", f"{API}/auth/logout"): Plan(_plain(f"{API}/auth/logout"), "own", token=True),
    ("GET", f"{API}/auth/me"): Plan(_plain(f"{API}/auth/me"), "own"),
    ("POST", f"{API}/auth/password"): Plan(
        lambda w, who: _json(
            f"{API}/auth/password",
            {"current_password": USER_PASSWORD, "new_password": USER_PASSWORD},
        ),
        "own",
        token=True,
    ),
    ("GET", f"{API}/users"): Plan(_plain(f"{API}/users"), "list"),
    ("POST", f"{API}/users"): Plan(
        lambda w, who: _json(
            f"{API}/users",
            {"username": w.fresh(who, "user"), "password": USER_PASSWORD, "role": "reader"},
        ),
        "own",
    ),
    ("DELETE", f"{API}/users/{{username}}"): Plan(
        lambda w, who: Request(f"{API}/users/{w.victim_user()}"), "404"
    ),
    ("PUT", f"{API}/users/{{username}}/password"): Plan(
        lambda w, who: _json(
            f"{API}/users/{w.victim_user()}/password", {"password": "another-password"}
        ),
        "404",
    ),
    ("GET", f"{API}/api-keys"): Plan(_plain(f"{API}/api-keys"), "list"),
    ("POST", f"{API}/api-keys"): Plan(
        lambda w, who: _json(f"{API}/api-keys", {"name": w.fresh(who, "key"), "role": "reader"}),
        "own",
    ),
    ("DELETE", f"{API}/api-keys/{{key_id}}"): Plan(
        lambda w, who: Request(f"{API}/api-keys/{w.victim_key()}"), "404"
    ),
    ("GET", f"{API}/webhooks"): Plan(_plain(f"{API}/webhooks"), "list"),
    ("POST", f"{API}/webhooks"): Plan(
        lambda w, who: _json(f"{API}/webhooks", {"url": f"https://{w.fresh(who, 'hook')}.test/"}),
        "own",
    ),
    ("DELETE", f"{API}/webhooks/{{webhook_id}}"): Plan(
        lambda w, who: Request(f"{API}/webhooks/{w.victim_webhook()}"), "404"
    ),
    ("GET", f"{API}/webhooks/{{webhook_id}}/deliveries"): Plan(
        lambda w, who: Request(f"{API}/webhooks/{w.victim_webhook()}/deliveries"), "404"
    ),
    ("GET", f"{API}/workspaces"): Plan(_plain(f"{API}/workspaces"), "list"),
    ("POST", f"{API}/workspaces"): Plan(
        lambda w, who: _json(f"{API}/workspaces", {"name": w.fresh(who, "ws")}), "own"
    ),
    ("GET", f"{API}/datasets"): Plan(_plain(f"{API}/datasets"), "list"),
    ("POST", f"{API}/datasets"): Plan(
        lambda w, who: _json(f"{API}/datasets", {"name": w.fresh(who, "data"), "keys": ["id"]}),
        "own",
    ),
    ("GET", f"{API}/datasets/{{name}}"): Plan(_plain(f"{API}/datasets/{MAIN}"), "404"),
    ("PATCH", f"{API}/datasets/{{name}}"): Plan(
        lambda w, who: _json(f"{API}/datasets/{MAIN}", {"schema_policy": "reject"}), "404"
    ),
    ("DELETE", f"{API}/datasets/{{name}}"): Plan(
        lambda w, who: Request(f"{API}/datasets/{w.victim_dataset()}"), "404"
    ),
    ("POST", f"{API}/datasets/{{name}}/jobs"): Plan(
        lambda w, who: _json(
            f"{API}/datasets/{MAIN}/jobs",
            {"operation": "upsert", "dry_run": True, "records": [{"id": "m1", "name": "x"}]},
        ),
        "404",
    ),
    ("POST", f"{API}/jobs"): Plan(
        lambda w, who: _json(
            f"{API}/jobs",
            {"parts": [{"name": "p1", "dataset": MAIN, "operation": "upsert"}], "dry_run": True},
        ),
        "404",
    ),
    ("GET", f"{API}/jobs"): Plan(_plain(f"{API}/jobs"), "list"),
    ("GET", f"{API}/datasets/{{name}}/records/{{key}}"): Plan(
        _plain(f"{API}/datasets/{MAIN}/records/a1"), "404"
    ),
    ("GET", f"{API}/datasets/{{name}}/versions"): Plan(
        _plain(f"{API}/datasets/{MAIN}/versions"), "404"
    ),
    ("GET", f"{API}/datasets/{{name}}/export"): Plan(
        _plain(f"{API}/datasets/{MAIN}/export?format=ndjson"), "404"
    ),
    # Version 1 of MAIN is its first (full) load: changes can be listed since it.
    ("GET", f"{API}/datasets/{{name}}/changes"): Plan(
        _plain(f"{API}/datasets/{MAIN}/changes?since=1"), "404"
    ),
    ("POST", f"{API}/datasets/{{name}}/find"): Plan(
        lambda w, who: _json(f"{API}/datasets/{MAIN}/find", {"filter": {"id": "a1"}}), "404"
    ),
    # compat: rossum (entries of /compat/rossum routes go here)
    ("POST", "/compat/rossum/api/v1/auth/login"): Plan(
        lambda w, who: _json(
            "/compat/rossum/api/v1/auth/login",
            {"username": USERS["reader"], "password": USER_PASSWORD},
        ),
        "own",
    ),
    # A new dataset each (the foreign admin's in its own workspace).
    ("POST", "/compat/rossum/svc/data-matching/api/v1/dataset/{dataset_name}"): Plan(
        lambda w, who: Request(
            f"/compat/rossum/svc/data-matching/api/v1/dataset/{w.fresh(who, 'data')}",
            {"files": {"file": ("d.csv", CSV)}, "data": {"id_keys": "id"}},
        ),
        "own",
    ),
    ("PUT", "/compat/rossum/svc/data-matching/api/v1/dataset/{dataset_name}"): Plan(
        lambda w, who: Request(
            f"/compat/rossum/svc/data-matching/api/v1/dataset/{w.victim_dataset(SCHEMA)}",
            {"files": {"file": ("d.csv", CSV)}},
        ),
        "404",
    ),
    # The foreign admin's update of a name it does not have creates it there.
    ("PATCH", "/compat/rossum/svc/data-matching/api/v1/dataset/{dataset_name}"): Plan(
        lambda w, who: Request(
            "/compat/rossum/svc/data-matching/api/v1/dataset/"
            + (w.fresh(who, "data") if who == "foreign" else MAIN),
            {"files": {"file": ("d.csv", CSV)}, "data": {"id_keys": "id"}},
        ),
        "own",
    ),
    ("DELETE", "/compat/rossum/svc/data-matching/api/v1/dataset/{dataset_name}"): Plan(
        lambda w, who: Request(
            f"/compat/rossum/svc/data-matching/api/v1/dataset/{w.victim_dataset()}"
        ),
        "404",
    ),
    ("GET", "/compat/rossum/svc/data-matching/api/v1/operation/{operation_id}"): Plan(
        lambda w, who: Request(f"/compat/rossum/svc/data-matching/api/v1/operation/{w.job_id}"),
        "404",
    ),
    ("POST", "/compat/rossum/svc/data-storage/api/v1/data/find"): Plan(
        lambda w, who: _json(
            "/compat/rossum/svc/data-storage/api/v1/data/find", {"collectionName": MAIN}
        ),
        "404",
    ),
    # compat: veracity
    ("POST", "/compat/veracity/oauth2/token"): Plan(
        lambda w, who: Request(
            "/compat/veracity/oauth2/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_id": "dflt-writer-key",
                    "client_secret": w.keys["writer"],
                }
            },
        ),
        "own",
    ),
    ("PUT", "/compat/veracity/workspaces/{workspace_id}/ingest/dataset/{dataset_id}"): Plan(
        lambda w, who: _json(
            f"/compat/veracity/workspaces/{DEFAULT}/ingest/dataset/{MAIN}",
            {"files": [{"fileName": "a.csv", "operation": "Upsert"}]},
        ),
        "404",
    ),
    ("POST", "/compat/veracity/workspaces/{workspace_id}/ingest/job/{job_id}/start"): Plan(
        lambda w, who: Request(
            "/compat/veracity/workspaces/default/ingest/job/"
            + str(w.waiting_job(uploaded=True))
            + "/start"
        ),
        "404",
    ),
    ("GET", "/compat/veracity/workspaces/{workspace_id}/ingest/job/{job_id}/status"): Plan(
        lambda w, who: Request(
            f"/compat/veracity/workspaces/{DEFAULT}/ingest/job/{w.job_id}/status"
        ),
        "404",
    ),
    # compat: qrvey
    # The row the world's first job wrote, posted again: an upsert that changes nothing.
    ("POST", "/compat/qrvey/{base}/postdata"): Plan(
        lambda w, who: _json(
            "/compat/qrvey/Prod/dataload/postdata",
            {"datasetId": MAIN, "data": [{"id": "a1", "name": "first"}]},
        ),
        "404",
    ),
    ("GET", "/compat/qrvey/{base}/{job_id}/status"): Plan(
        lambda w, who: Request(f"/compat/qrvey/Prod/dataload/{w.job_id}/status"), "404"
    ),
    # Lists only the credential's workspace (tests/compat/test_qrvey.py checks which).
    ("GET", "/compat/qrvey/devapi/v4/user/{user_id}/qollect/dataset/all"): Plan(
        _plain("/compat/qrvey/devapi/v4/user/u1/qollect/dataset/all"), "own"
    ),
    ("POST", "/compat/qrvey/devapi/v4/user/{user_id}/qollect/dataset/all"): Plan(
        _plain("/compat/qrvey/devapi/v4/user/u1/qollect/dataset/all"), "own"
    ),
    # compat: haplo
    ("POST", "/compat/haplo/api/haplo-data-import-batch/control"): Plan(
        lambda w, who: Request(
            "/compat/haplo/api/haplo-data-import-batch/control",
            {"files": {"file": json.dumps({"files": {"p1": {"read": "csv", "dataset": MAIN}}})}},
        ),
        "own",
    ),
    # A control file naming MAIN, uploaded by our admin; the batch needs MAIN in its workspace.
    ("POST", "/compat/haplo/api/haplo-data-import-batch/batch"): Plan(
        lambda w, who: Request(
            "/compat/haplo/api/haplo-data-import-batch/batch",
            {
                "data": {
                    "control": w.served.post(
                        "/compat/haplo/api/haplo-data-import-batch/control",
                        files={
                            "file": json.dumps({"files": {"p1": {"read": "csv", "dataset": MAIN}}})
                        },
                        headers=w.credential("admin", token=False),
                    ).text
                }
            },
        ),
        "404",
    ),
    ("POST", "/compat/haplo/api/haplo-data-import-batch/file"): Plan(
        lambda w, who: Request(
            "/compat/haplo/api/haplo-data-import-batch/file",
            {"data": {"batch": str(w.waiting_job()), "name": "p1"}, "files": {"file": CSV}},
        ),
        "404",
    ),
    ("POST", "/compat/haplo/api/haplo-data-import-batch/schedule"): Plan(
        lambda w, who: Request(
            "/compat/haplo/api/haplo-data-import-batch/schedule",
            {"data": {"batch": str(w.waiting_job(uploaded=True)), "mode": "dry-run"}},
        ),
        "404",
    ),
    ("GET", f"{API}/datasets/{{name}}/indexes"): Plan(
        _plain(f"{API}/datasets/{MAIN}/indexes"), "404"
    ),
    ("POST", f"{API}/datasets/{{name}}/indexes"): Plan(
        lambda w, who: _json(
            f"{API}/datasets/{w.victim_dataset(SCHEMA)}/indexes", {"fields": ["name"]}
        ),
        "404",
    ),
    ("DELETE", f"{API}/datasets/{{name}}/indexes/{{index}}"): Plan(
        lambda w, who: Request(f"{API}/datasets/{'/indexes/'.join(w.victim_index())}"), "404"
    ),
    ("PUT", f"{API}/jobs/{{job_id}}/parts/{{part}}"): Plan(
        lambda w, who: Request(
            f"{API}/jobs/{w.waiting_job()}/parts/p1",
            {"content": CSV, "headers": {"Content-Type": "application/octet-stream"}},
        ),
        "404",
    ),
    ("POST", f"{API}/jobs/{{job_id}}/start"): Plan(
        lambda w, who: Request(f"{API}/jobs/{w.waiting_job(uploaded=True)}/start"), "404"
    ),
    ("GET", f"{API}/jobs/{{job_id}}"): Plan(_job(), "404"),
    ("GET", f"{API}/jobs/{{job_id}}/errors"): Plan(_job("/errors"), "404"),
    ("GET", f"{API}/jobs/{{job_id}}/log"): Plan(_job("/log"), "404"),
    ("GET", f"{API}/jobs/{{job_id}}/events"): Plan(_job("/events"), "404"),
    ("POST", f"{API}/jobs/{{job_id}}/cancel"): Plan(
        lambda w, who: Request(f"{API}/jobs/{w.waiting_job()}/cancel"), "404"
    ),
}


def _fallback(route: Route) -> Plan:
    """A plausible request for a route this file does not know yet: path parameters named
    after the default workspace's objects, a minimal body from the OpenAPI document."""

    def build(w: World, who: str) -> Request:
        destructive = route.method != "GET"
        values = {
            "name": w.victim_dataset() if route.method == "DELETE" else MAIN,
            "job_id": str(w.waiting_job() if destructive else w.job_id),
            "key_id": str(w.victim_key()),
            "username": w.victim_user(),
            "part": "p1",
        }
        url = route.path
        for param in route.path_params:
            url = url.replace(f"{{{param}}}", values.get(param, "a1"))
        schema = request_schema(route)
        if schema is not None:
            return _json(url, minimal(schema, w.served.app.openapi()))
        if route.operation.get("requestBody"):
            return Request(url, {"content": CSV, "headers": {"Content-Type": "text/csv"}})
        return Request(url)

    foreign = "404" if route.path_params else ("list" if route.method == "GET" else "own")
    return Plan(build, foreign, known=False)


def _is_error(response: httpx.Response, status: int, code: str) -> None:
    assert_error(response, status, code)


def _allowed(needs: str | None, who: str) -> bool:
    if needs in (None, AUTHENTICATED):
        return True
    if needs == INSTANCE_ADMIN:
        return who == "instance"
    return role_allows(ROLE_OF.get(who, "admin"), needs)


class Matrix:
    """Sends one route's requests and collects what went against the policy."""

    def __init__(self, route: Route, world: World) -> None:
        self.route = route
        self.world = world
        self.plan = PLANS.get((route.method, route.path)) or _fallback(route)
        self.problems: list[str] = []

    def send(self, who: str, request: Request) -> httpx.Response:
        kwargs = dict(request.kwargs)
        headers = {**kwargs.pop("headers", {}), **self.world.credential(who, token=self.plan.token)}
        return self.world.served.request(self.route.method, request.url, headers=headers, **kwargs)

    def expect(self, who: str, response: httpx.Response, check: Callable[[], None]) -> None:
        try:
            check()
        except AssertionError as exc:
            reason = str(exc).splitlines()[0][:200]
            self.problems.append(f"{who}: {reason} -- {response.status_code} {response.text[:200]}")

    def succeeded(self, who: str, response: httpx.Response) -> None:
        def check() -> None:
            if self.plan.known:
                assert 200 <= response.status_code < 300, "a 2xx expected"
            else:
                assert response.status_code not in (401, 403), "refused a sufficient role"

        self.expect(who, response, check)

    def forbidden(self, who: str, response: httpx.Response) -> None:
        self.expect(who, response, lambda: _is_error(response, 403, "forbidden"))

    def run(self) -> list[str]:
        route, world = self.route, self.world
        response = self.send("none", self.plan.build(world, "admin"))
        if route.public:
            self.succeeded("no credential", response)
        elif route.needs is not None or route.under_api:
            self.expect("no credential", response, lambda: assert_unauthorized(response))
        whos = ["reader", "writer", "admin"] + (
            ["instance"] if route.needs == INSTANCE_ADMIN else []
        )
        for who in whos:
            response = self.send(who, self.plan.build(world, who))
            if route.needs is None and not route.public:
                continue  # only "never a 5xx" (checked on every answer) for an undeclared route
            if _allowed(route.needs, who):
                self.succeeded(who, response)
            else:
                self.forbidden(who, response)
        self.run_foreign()
        return self.problems

    def run_foreign(self) -> None:
        route, world = self.route, self.world
        request = self.plan.build(world, "foreign")
        response = self.send("foreign", request)
        if route.needs is None and not route.public:
            return
        if not _allowed(route.needs, "foreign"):
            self.forbidden("foreign admin", response)
        elif self.plan.foreign == "404":
            self.expect("foreign admin", response, lambda: _is_error(response, 404, "not_found"))
            # The same request by our own admin still works: the foreign one changed nothing.
            self.succeeded("admin after foreign admin", self.send("admin", request))
        elif self.plan.foreign == "list":
            self.expect("foreign admin", response, lambda: self.only_foreign(response))
        else:
            self.succeeded("foreign admin", response)

    def only_foreign(self, response: httpx.Response) -> None:
        assert 200 <= response.status_code < 300, "a 2xx expected"
        body = response.json()
        results = body.get("results", body) if isinstance(body, dict) else body
        assert MARKER not in json.dumps(results), "another workspace's objects listed"
        if self.route.path == f"{API}/jobs":
            ids = [r["id"] for r in results]
            assert self.world.job_id not in ids, "another workspace's job listed"
            assert self.world.foreign_job_id in ids, "its own job missing"
        name, ours = LIST_FIELDS.get(self.route.path, ("name", set()))
        assert not ours & {r.get(name) for r in results}, "another workspace's objects listed"


ROUTES = app_routes()


def test_every_route_declares_a_role() -> None:
    """Each route under /api/v1 declares the role it needs, unless it is public; the public
    ones declare none."""
    undeclared = [str(r) for r in ROUTES if r.under_api and not r.public and r.needs is None]
    assert not undeclared, f"routes without a declared role (RequireRole): {undeclared}"
    declared_public = [str(r) for r in ROUTES if r.public and r.needs is not None]
    assert not declared_public, f"public routes that ask for a credential: {declared_public}"
    missing = PUBLIC - {(r.method, r.path) for r in ROUTES}
    assert not missing, f"public routes missing from the app: {missing}"


def test_the_document_declares_a_credential_where_a_route_needs_one() -> None:
    """OpenAPI's `security` is on exactly the operations that declare a role, naming every
    accepted way to present the credential."""
    mismatched = [str(r) for r in ROUTES if bool(r.operation.get("security")) != bool(r.needs)]
    assert not mismatched, f"documented credential differs from the declared role: {mismatched}"
    guarded = next(r for r in ROUTES if r.needs)
    schemes = {name for requirement in guarded.operation["security"] for name in requirement}
    assert schemes == set(auth.SECURITY_SCHEMES)


def test_plans_name_existing_routes() -> None:
    """The hand-written requests follow the app (a renamed route is noticed here)."""
    known = {(r.method, r.path) for r in ROUTES}
    assert not set(PLANS) - known, f"requests for routes that are gone: {set(PLANS) - known}"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_answers_by_role_and_workspace(route: Route, world: World) -> None:
    problems = Matrix(route, world).run()
    assert not problems, f"{route}:\n" + "\n".join(problems)
