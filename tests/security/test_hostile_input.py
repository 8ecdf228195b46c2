"""Hostile input (invariants 7 and 8): fields nobody may set, names made to break SQL or paths,
and query parameters made to break queries. Each gets a 4xx or a harmless success, never a
5xx, and leaves the database (and everything outside the upload storage) as it was."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

import httpx
import pytest
from sqlalchemy import text

from mdhub.api.ingest import UPLOAD_BODY
from mdhub.db.dialect import quote
from mdhub.services import accounts, api_keys, datasets, submissions, workspaces
from tests.security.conftest import Backend
from tests.security.routes import Route, app_routes, minimal, request_schema
from tests.security.support import (
    ADMIN_PASSWORD,
    API,
    USER_PASSWORD,
    FileSnapshot,
    Served,
    assert_error,
    bearer,
    table_counts,
)

SENTINEL = "sentinel"
SCHEMA = {
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "qty", "type": "integer"},
    ],
    "primaryKey": ["id"],
}
ROWS = b"id,name,qty\ns1,first,1\ns2,second,2\ns3,third,3\n"
MEMBER = "hostile-member"
# Tables whose rows only an account action changes.
ACCOUNT_TABLES = ("users", "memberships", "api_keys", "workspaces", "sessions")
STORED = re.compile(r"^(tmp/.*|sha256/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64})$")


@dataclass
class Hostile:
    served: Served
    backend: Backend
    admin: dict[str, str]  # the instance admin's login token
    admin_key: dict[str, str]
    writer: dict[str, str]
    reader: dict[str, str]
    files: FileSnapshot

    def sentinel_rows(self) -> list[tuple[Any, ...]]:
        table = datasets.get_dataset(self.served.dbs, "default", SENTINEL).table_name
        with self.served.dbs.data.connect() as conn:
            rows = conn.execute(text(f"SELECT * FROM {quote(table)}")).all()
        return sorted(tuple(r) for r in rows)

    def state(self) -> tuple[dict[str, int], list[tuple[Any, ...]], set[str]]:
        self.served.wait_idle()
        return table_counts(self.served.dbs), self.sentinel_rows(), self.files.take()

    def stored_files(self) -> list[str]:
        root = self.backend.uploads
        return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """Nothing changes: no row of any table, no file outside the upload storage."""
        before = self.state()
        yield
        after = self.state()
        assert after[0] == before[0], "rows changed"
        assert after[1:] == before[1:]
        assert all(STORED.match(name) for name in self.stored_files()), self.stored_files()

    @contextmanager
    def intact(self) -> Iterator[None]:
        """New datasets and jobs may appear; every table is still there, accounts and the
        sentinel dataset are as they were, no file appeared outside the upload storage."""
        counts, rows, files = self.state()
        yield
        after_counts, after_rows, after_files = self.state()
        assert set(counts) <= set(after_counts), set(counts) - set(after_counts)
        for table in ACCOUNT_TABLES:
            assert after_counts[f"meta.{table}"] == counts[f"meta.{table}"], table
        assert (after_rows, after_files) == (rows, files)
        assert all(STORED.match(name) for name in self.stored_files()), self.stored_files()


@pytest.fixture(scope="module")
def hostile(served: Served, backend: Backend) -> Hostile:
    dbs = served.dbs
    datasets.create_dataset(dbs, "default", SENTINEL, schema=SCHEMA)
    accounts.create_user(dbs, MEMBER, USER_PASSWORD, workspace="default", role="reader")
    workspaces.create_workspace(dbs, "hostile-other", admin_user_id=None)
    admin_key = bearer(served.key("default", "hostile-admin", "admin")[1])
    response = served.post(
        f"{API}/datasets/{SENTINEL}/jobs",
        content=ROWS,
        headers={**admin_key, "Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.text
    assert served.wait_job(response.json()["id"], admin_key)["status"] == "succeeded"
    files = FileSnapshot(backend.root, (backend.uploads, backend.db_dir))
    return Hostile(
        served=served,
        backend=backend,
        admin=bearer(served.login("admin", ADMIN_PASSWORD)),
        admin_key=admin_key,
        writer=bearer(served.key("default", "hostile-writer", "writer")[1]),
        reader=bearer(served.key("default", "hostile-reader", "reader")[1]),
        files=files,
    )


def _path(name: str) -> str:
    """A path segment that reaches the app as `name` ('.' and '/' encoded too)."""
    return url_quote(name, safe="").replace(".", "%2E")


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _job_of(response: httpx.Response, served: Served, headers: dict[str, str]) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return served.wait_job(response.json()["id"], headers)


def _clean_end(job: dict[str, Any]) -> None:
    """A job on hostile input succeeds, or fails with a reason that is not a crash."""
    assert job["status"] in ("succeeded", "failed"), job
    if job["status"] == "failed":
        assert job["error"]["code"] != "internal_error", job["error"]


# Mass assignment -----------------------------------------------------------------------------

EXTRAS: dict[str, Any] = {
    "workspace": "hostile-other",
    "workspace_id": 1,
    "role": "admin",
    "instance_admin": True,
    "id": 1,
}
RECORD = {"id": "s1", "name": "changed", "qty": 9}
VALID_BODIES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("POST", f"{API}/auth/login"): (
        f"{API}/auth/login",
        {"username": "admin", "password": ADMIN_PASSWORD},
    ),
    ("POST", f"{API}/auth/password"): (
        f"{API}/auth/password",
        {"current_password": ADMIN_PASSWORD, "new_password": "a-changed-password"},
    ),
    ("POST", f"{API}/users"): (
        f"{API}/users",
        {"username": "hostile-new", "password": USER_PASSWORD, "role": "reader"},
    ),
    ("PUT", f"{API}/users/{{username}}/password"): (
        f"{API}/users/{MEMBER}/password",
        {"password": "a-changed-password"},
    ),
    ("POST", f"{API}/api-keys"): (f"{API}/api-keys", {"name": "hostile-new", "role": "reader"}),
    ("POST", f"{API}/workspaces"): (f"{API}/workspaces", {"name": "hostile-new"}),
    ("POST", f"{API}/datasets"): (f"{API}/datasets", {"name": "hostile-new", "keys": ["id"]}),
    ("PATCH", f"{API}/datasets/{{name}}"): (f"{API}/datasets/{SENTINEL}", {"schema_policy": "add"}),
    ("POST", f"{API}/datasets/{{name}}/jobs"): (
        f"{API}/datasets/{SENTINEL}/jobs",
        {"operation": "upsert", "records": [RECORD]},
    ),
    ("POST", f"{API}/jobs"): (
        f"{API}/jobs",
        {"parts": [{"name": "p1", "dataset": SENTINEL, "operation": "upsert"}]},
    ),
}
BODY_ROUTES = [r for r in app_routes() if request_schema(r) is not None]


def _valid_body(route: Route, served: Served) -> tuple[str, dict[str, Any]]:
    if (route.method, route.path) in VALID_BODIES:
        return VALID_BODIES[(route.method, route.path)]
    url = route.path
    for param in route.path_params:
        url = url.replace(f"{{{param}}}", SENTINEL)
    schema = request_schema(route)
    assert schema is not None
    return url, minimal(schema, served.app.openapi())


def _declared_fields(route: Route, served: Served) -> set[str]:
    document = served.app.openapi()
    schema = request_schema(route) or {}
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return set(schema.get("properties", {}))


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
def test_fields_nobody_may_set_are_refused(route: Route, hostile: Hostile) -> None:
    served = hostile.served
    url, body = _valid_body(route, served)
    declared = _declared_fields(route, served)
    with hostile.unchanged():
        for name, value in EXTRAS.items():
            if name in declared:
                continue
            response = served.request(
                route.method, url, json={**body, name: value}, headers=hostile.admin
            )
            assert_error(response, 400, "invalid_request")
            assert name in json.dumps(response.json()["error"]), response.text
    # The token is still good: no password changed, nothing revoked.
    assert served.get(f"{API}/auth/me", headers=hostile.admin).status_code == 200


def test_nested_fields_nobody_may_set_are_refused(hostile: Hostile) -> None:
    part = {"name": "p1", "dataset": SENTINEL, "operation": "upsert"}
    with hostile.unchanged():
        for name, value in EXTRAS.items():
            response = hostile.served.post(
                f"{API}/jobs", json={"parts": [{**part, name: value}]}, headers=hostile.writer
            )
            assert_error(response, 400, "invalid_request")
            options = {**part, "options": {"delimiter": ";", name: value}}
            response = hostile.served.post(
                f"{API}/jobs", json={"parts": [options]}, headers=hostile.writer
            )
            assert_error(response, 400, "invalid_request")


def test_documented_fields_are_the_accepted_ones() -> None:
    """The upload form and the inline-records body document exactly what is accepted."""
    body = UPLOAD_BODY["requestBody"]["content"]
    form = body["multipart/form-data"]["schema"]
    assert set(form["properties"]) - {"file"} == submissions.OPTION_NAMES
    assert form["additionalProperties"] is False
    inline = body["application/json"]["schema"]
    assert set(inline["properties"]) == submissions.INLINE_FIELDS
    assert inline["additionalProperties"] is False


def test_form_fields_nobody_may_set_are_refused(hostile: Hostile) -> None:
    with hostile.unchanged():
        for name, value in EXTRAS.items():
            response = hostile.served.post(
                f"{API}/datasets/{SENTINEL}/jobs",
                files={"file": ("rows.csv", ROWS)},
                data={"operation": "upsert", name: str(value)},
                headers=hostile.writer,
            )
            assert_error(response, 400, "invalid_request")
            assert name in response.json()["error"]["message"]


def test_writers_and_readers_cannot_manage_accounts(hostile: Hostile) -> None:
    served = hostile.served
    admin_key_id = api_keys.list_keys(served.dbs, "default")[0]["id"]
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{API}/api-keys", {"name": "sneaky", "role": "admin"}),
        ("POST", f"{API}/api-keys", {"name": "sneaky", "role": "admin", "workspace": "x"}),
        ("POST", f"{API}/users", {"username": "sneaky", "password": "p" * 10, "role": "admin"}),
        ("DELETE", f"{API}/api-keys/{admin_key_id}", None),
        ("DELETE", f"{API}/users/{MEMBER}", None),
        ("PUT", f"{API}/users/{MEMBER}/password", {"password": "taken-over!"}),
        ("POST", f"{API}/workspaces", {"name": "sneaky"}),
        ("POST", f"{API}/datasets", {"name": "sneaky"}),
        ("DELETE", f"{API}/datasets/{SENTINEL}", None),
    ]
    with hostile.unchanged():
        for headers in (hostile.writer, hostile.reader):
            for method, url, body in attempts:
                response = served.request(method, url, json=body, headers=headers)
                assert_error(response, 403, "forbidden")


def test_a_workspace_admin_cannot_take_over_the_instance_admin(hostile: Hostile) -> None:
    served = hostile.served
    with hostile.unchanged():
        response = served.request(
            "PUT",
            f"{API}/users/admin/password",
            json={"password": "taken-over!"},
            headers=hostile.admin_key,
        )
        assert_error(response, 403, "forbidden")
        for role in ("owner", "instance_admin", "ADMIN"):
            response = served.post(
                f"{API}/users",
                json={"username": "sneaky", "password": USER_PASSWORD, "role": role},
                headers=hostile.admin_key,
            )
            assert_error(response, 400, "invalid_request")
    assert served.login("admin", ADMIN_PASSWORD)


# SQL and identifier injection ----------------------------------------------------------------

EVIL_NAMES = [
    'x"; DROP TABLE datasets;--',
    "x'; DROP TABLE datasets;--",
    "sentinel'--",
    'sentinel"',
    "sentinel; DELETE FROM users",
    "../x",
    "..",
    ".",
    "../../etc/passwd",
    "ünïcødé",
    "名前",
    "😀",
    "a" * 65,
    "a" * 5000,
    "name with space",
    "%",
    "%s",
    "?",
    "\\",
]


@pytest.mark.parametrize("name", EVIL_NAMES, ids=lambda n: repr(n[:30]))
def test_dataset_names_cannot_inject(hostile: Hostile, name: str) -> None:
    served, segment = hostile.served, _path(name)
    with hostile.unchanged():
        created = served.post(
            f"{API}/datasets", json={"name": name, "keys": ["id"]}, headers=hostile.admin_key
        )
        assert_error(created, 400, "invalid_request")
        for method, url in (
            ("GET", f"{API}/datasets/{segment}"),
            ("PATCH", f"{API}/datasets/{segment}"),
            ("DELETE", f"{API}/datasets/{segment}"),
        ):
            body = {"schema_policy": "add"} if method == "PATCH" else None
            response = served.request(method, url, json=body, headers=hostile.admin_key)
            assert 400 <= response.status_code < 500, (method, url, response.text)
        upload = served.post(
            f"{API}/datasets/{segment}/jobs",
            params={"keys": "id"},
            content=ROWS,
            headers={**hostile.writer, "Content-Type": "text/csv"},
        )
        assert 400 <= upload.status_code < 500, upload.text
        part = {"name": "p1", "dataset": name, "operation": "upsert"}
        job = served.post(f"{API}/jobs", json={"parts": [part]}, headers=hostile.writer)
        assert 400 <= job.status_code < 500, job.text
        listed = served.get(f"{API}/jobs", params={"dataset": name}, headers=hostile.reader)
        assert listed.status_code == 400 or listed.json()["results"] == [], listed.text


HOSTILE_COLUMNS = [
    'x"; DROP TABLE datasets;--',
    "a'b",
    "c;d",
    "e--f",
    '"',
    '""',
    "[x]",
    "`y`",
    "?",
    ":param",
    "ünï",
    "sp ace",
    "DROP TABLE users",
    "/* c */",
]
# psycopg reads '%' in a statement as a placeholder, also inside a quoted identifier.
PERCENT_COLUMNS = ["100%", "a%sb", "%(x)s"]


def _columns_round_trip(hostile: Hostile, columns: list[str], dataset: str) -> None:
    """An upload whose header has these column names creates a dataset with exactly them
    (or fails cleanly); a second upload of the same keys updates, never duplicates."""
    served = hostile.served
    header = ["id", *columns]
    rows = [[f"k{i}", *(f"v{i}-{j}" for j in range(len(columns)))] for i in range(3)]
    with hostile.intact():
        response = served.post(
            f"{API}/datasets/{dataset}/jobs",
            params={"keys": "id"},
            content=_csv(header, rows),
            headers={**hostile.admin_key, "Content-Type": "text/csv"},
        )
        job = _job_of(response, served, hostile.writer)
        _clean_end(job)
        if job["status"] == "succeeded":
            found = served.get(f"{API}/datasets/{dataset}", headers=hostile.reader).json()
            assert [f["name"] for f in found["schema"]["fields"]] == header
            again = served.post(
                f"{API}/datasets/{dataset}/jobs",
                content=_csv(header, rows[:1]),
                headers={**hostile.writer, "Content-Type": "text/csv"},
            )
            assert _job_of(again, served, hostile.writer)["status"] == "succeeded"
            found = served.get(f"{API}/datasets/{dataset}", headers=hostile.reader).json()
            assert found["row_count"] == 3


def _schema_round_trip(hostile: Hostile, columns: list[str], dataset: str) -> None:
    """A schema with these field names (one of them the key) is refused or works."""
    served = hostile.served
    fields = [{"name": c, "type": "string"} for c in columns]
    schema = {"fields": fields, "primaryKey": [columns[0]]}
    with hostile.intact():
        created = served.post(
            f"{API}/datasets", json={"name": dataset, "schema": schema}, headers=hostile.admin_key
        )
        if created.status_code == 400:
            return
        assert created.status_code == 201, created.text
        assert [f["name"] for f in created.json()["schema"]["fields"]] == columns
        content = _csv(columns, [[f"k{i}", *(["v"] * (len(columns) - 1))] for i in range(2)])
        for _ in range(2):
            response = served.post(
                f"{API}/datasets/{dataset}/jobs",
                content=content,
                headers={**hostile.writer, "Content-Type": "text/csv"},
            )
            assert _job_of(response, served, hostile.writer)["status"] == "succeeded"
        found = served.get(f"{API}/datasets/{dataset}", headers=hostile.reader).json()
        assert found["row_count"] == 2


def test_column_names_in_csv_headers_cannot_inject(hostile: Hostile) -> None:
    _columns_round_trip(hostile, HOSTILE_COLUMNS, "hostile-header")


def test_column_names_in_schemas_cannot_inject(hostile: Hostile) -> None:
    _schema_round_trip(hostile, HOSTILE_COLUMNS, "hostile-schema")
    _schema_round_trip(hostile, list(reversed(HOSTILE_COLUMNS)), "hostile-schema-key")


def test_percent_in_column_names_of_csv_headers(
    hostile: Hostile, backend: Backend, request: pytest.FixtureRequest
) -> None:
    _columns_round_trip(hostile, PERCENT_COLUMNS, "hostile-percent-header")


def test_percent_in_column_names_of_schemas(
    hostile: Hostile, backend: Backend, request: pytest.FixtureRequest
) -> None:
    _schema_round_trip(hostile, ["100%", "a%sb", "%(x)s"], "hostile-percent-schema")


QUERIES: list[tuple[str, dict[str, str]]] = [
    (f"{API}/datasets", {"cursor": "' OR '1'='1"}),
    (f"{API}/datasets", {"cursor": 'x"; DROP TABLE datasets;--'}),
    (f"{API}/datasets", {"cursor": "é" * 64}),
    (f"{API}/datasets", {"cursor": "a" * 5000}),
    (f"{API}/datasets", {"limit": "1; DROP TABLE datasets"}),
    (f"{API}/datasets", {"limit": "-1"}),
    (f"{API}/datasets", {"limit": "0"}),
    (f"{API}/datasets", {"limit": str(10**30)}),
    (f"{API}/jobs", {"status": "queued' OR '1'='1"}),
    (f"{API}/jobs", {"status": "succeeded; DROP TABLE jobs"}),
    (f"{API}/jobs", {"dataset": "x' OR 1=1--"}),
    (f"{API}/jobs", {"dataset": 'x"; DROP TABLE jobs;--'}),
    (f"{API}/jobs", {"dataset": "%"}),
    (f"{API}/jobs", {"dataset": "_"}),
    (f"{API}/jobs", {"cursor": "1 OR 1=1"}),
    (f"{API}/jobs", {"cursor": "-1"}),
    (f"{API}/jobs", {"cursor": str(2**63)}),
    (f"{API}/jobs", {"cursor": "1e3"}),
    (f"{API}/jobs", {"limit": "1000000"}),
    (f"{API}/jobs/1/errors", {"cursor": "0 OR 1=1"}),
    (f"{API}/jobs/1/log", {"cursor": str(2**64)}),
    (f"{API}/jobs/1 OR 1=1", {}),
    (f"{API}/jobs/-1", {}),
    (f"{API}/jobs/{2**64}", {}),
    (f"{API}/jobs/1%00", {}),
    (f"{API}/datasets/{SENTINEL}%00", {}),
]


def test_query_parameters_cannot_inject(hostile: Hostile) -> None:
    with hostile.unchanged():
        for url, params in QUERIES:
            response = hostile.served.get(url, params=params, headers=hostile.admin_key)
            assert response.status_code < 500, (url, params, response.text)
            if response.status_code == 200 and "dataset" in params:
                assert response.json()["results"] == [], (url, params)
            if response.status_code >= 400:
                assert_error(response, response.status_code)


UPLOAD_OPTIONS: list[dict[str, str]] = [
    {"operation": "upsert; DROP TABLE datasets"},
    {"format": "../../etc/passwd"},
    {"delimiter": ";--"},
    {"max_errors": "1 OR 1=1"},
    {"dry_run": "true' --"},
    {"encoding": "../../etc/passwd"},
    {"encoding": "utf-8'; DROP TABLE users;--"},
]


def test_upload_options_cannot_inject(hostile: Hostile) -> None:
    served = hostile.served
    with hostile.intact():
        for options in UPLOAD_OPTIONS:
            response = served.post(
                f"{API}/datasets/{SENTINEL}/jobs",
                params={**options, "dry_run": options.get("dry_run", "true")},
                content=ROWS,
                headers={**hostile.writer, "Content-Type": "text/csv"},
            )
            if response.status_code == 202:
                job = served.wait_job(response.json()["id"], hostile.writer)
                _clean_end(job)
            else:
                assert_error(response, 400)


def test_nul_characters_are_refused_not_crashes(hostile: Hostile) -> None:
    served = hostile.served
    with hostile.unchanged():
        login = served.post(
            f"{API}/auth/login", json={"username": "ad\x00min", "password": ADMIN_PASSWORD}
        )
        assert 400 <= login.status_code < 500, login.text
        part = {"name": "p1", "dataset": SENTINEL, "operation": "upsert"}
        keyed = served.post(
            f"{API}/jobs",
            json={"parts": [part]},
            headers={**hostile.writer, "Idempotency-Key": "a\x00b"},
        )
        assert_error(keyed, 400)
        named = served.post(
            f"{API}/datasets",
            json={"name": "nul", "schema": {"fields": [{"name": "a\x00b", "type": "string"}]}},
            headers=hostile.admin_key,
        )
        assert_error(named, 400)


def test_a_nul_in_a_value_is_a_row_error_with_its_line_and_column(hostile: Hostile) -> None:
    served = hostile.served
    with hostile.intact():
        response = served.post(
            f"{API}/datasets/hostile-nul/jobs",
            json={"keys": ["id"], "records": [{"id": "k1", "value": "a\x00b"}]},
            headers=hostile.admin_key,
        )
        job = _job_of(response, served, hostile.writer)
        _clean_end(job)
        assert job["status"] == "failed" and job["error"]["code"] == "row_errors", job
        [error] = job["errors"]
        assert (error["line"], error["column"]) == (1, "value")
        assert "NUL" in error["message"]


# Path traversal ------------------------------------------------------------------------------

TRAVERSAL = [
    "../../etc/passwd",
    "../" * 12 + "tmp/mdhub-traversal-{uid}",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "uploads/../../x.csv",
    "....//....//x.csv",
    "%2e%2e%2fx.csv",
    "~/.ssh/authorized_keys",
    "sha256/../../../x.csv",
]


@pytest.mark.parametrize("filename", TRAVERSAL, ids=lambda n: repr(n[:30]))
def test_file_names_cannot_escape_the_storage(hostile: Hostile, filename: str) -> None:
    served = hostile.served
    filename = filename.format(uid=uuid.uuid4().hex)
    with hostile.intact():
        sent = [
            served.post(
                f"{API}/datasets/{SENTINEL}/jobs",
                files={"file": (filename, ROWS)},
                data={"operation": "upsert", "dry_run": "true"},
                headers=hostile.writer,
            ),
            served.post(
                f"{API}/datasets/{SENTINEL}/jobs",
                params={"filename": filename, "dry_run": "true", "format": "csv"},
                content=ROWS,
                headers={**hostile.writer, "Content-Type": "text/csv"},
            ),
        ]
        for response in sent:
            if response.status_code != 202:
                assert_error(response, 400)
                continue
            job = served.wait_job(response.json()["id"], hostile.writer)
            assert [p["name"] for p in job["parts"]] == [filename[-255:]]
            assert job["status"] == "succeeded", job
    assert not list(Path("/tmp").glob("mdhub-traversal-*"))


def test_part_names_cannot_escape_the_storage(hostile: Hostile) -> None:
    served = hostile.served
    with hostile.intact():
        for name in ("../x", "..", "a/../../b", "..\\x", ".hidden", "x/y", "/abs"):
            part = {"name": name, "dataset": SENTINEL, "operation": "upsert"}
            response = served.post(f"{API}/jobs", json={"parts": [part]}, headers=hostile.writer)
            assert_error(response, 400, "invalid_request")
        part = {"name": "p1", "dataset": SENTINEL, "operation": "upsert"}
        created = served.post(
            f"{API}/jobs", json={"parts": [part], "dry_run": True}, headers=hostile.writer
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        for name in ("../p1", "..", "../../etc/passwd", "p1/../p1", "%2e%2e"):
            response = served.request(
                "PUT",
                f"{API}/jobs/{job_id}/parts/{_path(name)}",
                content=ROWS,
                headers={**hostile.writer, "Content-Type": "application/octet-stream"},
            )
            assert 400 <= response.status_code < 500, (name, response.text)
        done = served.request(
            "PUT",
            f"{API}/jobs/{job_id}/parts/p1",
            content=ROWS,
            headers={**hostile.writer, "Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 200, done.text
        assert [p["name"] for p in done.json()["parts"]] == ["p1"]
        started = served.post(f"{API}/jobs/{job_id}/start", headers=hostile.writer)
        assert _job_of(started, served, hostile.writer)["status"] == "succeeded"
