"""The API's documented shapes (OpenAPI): request bodies, resources and the one error shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Operation = Literal["upsert", "insert", "update", "append", "overwrite", "delete"]
Format = Literal["csv", "ndjson", "json", "parquet"]
SchemaPolicy = Literal["reject", "ignore", "add"]
JobStatus = Literal["created", "queued", "running", "succeeded", "failed", "cancelled"]
Role = Literal["reader", "writer", "admin"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """Every error: `{"error": {"code", "message", "details"}}`."""

    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    400: "Invalid request",
    401: "No valid credential: missing, wrong, expired or revoked",
    403: "The credential's role does not allow this",
    404: "Not found (in this workspace)",
    409: "Conflict with the object's state, or the same Idempotency-Key still in flight",
    413: "Request body over MDHUB_MAX_UPLOAD_BYTES",
    422: "Unreadable input, or an Idempotency-Key reused for a different request",
    429: "Too many failed logins: retry after `Retry-After` seconds",
    500: "Internal error",
    503: "Database not reachable or not migrated",
}


ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'How to authenticate: `Bearer realm="mdhub"`',
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "required": True,
            "schema": {"type": "integer"},
        }
    },
}


BINARY = {"type": "string", "format": "binary"}


def multipart_form(properties: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    """The OpenAPI schema of a multipart form: a binary `file` and other `properties` (no
    other fields when `closed`)."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["file"],
        "properties": {**properties, "file": BINARY},
    }
    if closed:
        schema["additionalProperties"] = False
    return {"multipart/form-data": {"schema": schema}}


def multipart_body(properties: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is a multipart form (see `multipart_form`)."""
    return {"requestBody": {"required": True, "content": multipart_form(properties)}}


def error_responses(*statuses: int, public: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses: 400 and 500 are always possible, and
    401 and 403 on every route that needs a credential (all but `public` ones)."""
    wanted = sorted({400, 500, *statuses, *(() if public else (401, 403))})
    responses: dict[int | str, dict[str, Any]] = {}
    for status in wanted:
        responses[status] = {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        if status in ERROR_HEADERS:
            responses[status]["headers"] = ERROR_HEADERS[status]
    return responses


class Progress(BaseModel):
    rows_read: int
    bytes_read: int
    bytes_total: int
    percent: float


class Statistics(BaseModel):
    read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    failed: int


class JobPart(BaseModel):
    name: str
    dataset: str
    operation: str
    format: str
    bytes: int | None
    checksum: str | None
    uploaded: bool


class RowError(BaseModel):
    part: str
    line: int | None
    column: str | None
    value: str | None
    message: str


class Job(BaseModel):
    id: int
    status: JobStatus
    dry_run: bool
    cancel_requested: bool
    parts: list[JobPart]
    progress: Progress
    statistics: Statistics
    version: int | None = Field(description="The version produced, for a one-dataset job")
    versions: dict[str, int] = Field(description="Version produced per dataset")
    error: ErrorDetail | None
    error_count: int
    notes: list[str]
    sample: dict[str, Any]
    attempt: int
    runtime: float | None = Field(description="Seconds since the job started (to its end)")
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    errors: list[RowError] = Field(
        default_factory=list, description="The first row errors (all of them at /errors)"
    )


class JobList(BaseModel):
    results: list[Job]
    next: int | None


class RowErrorList(BaseModel):
    results: list[RowError]
    next: int | None
    total: int


class LogLine(BaseModel):
    id: int
    at: str | None
    level: str
    message: str


class LogList(BaseModel):
    results: list[LogLine]
    next: int | None


class Dataset(BaseModel):
    name: str
    schema_: dict[str, Any] | None = Field(alias="schema")
    keys: list[str]
    schema_policy: str
    row_count: int
    version: int
    table: str
    last_job: int | None
    created_at: str
    updated_at: str

    model_config = ConfigDict(populate_by_name=True)


class DatasetList(BaseModel):
    results: list[Dataset]
    next: str | None


class DatasetCreate(BaseModel):
    """A new dataset; without `schema`, the first file's columns decide (inferred)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=NAME)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    keys: list[str] | None = None
    schema_policy: SchemaPolicy = "reject"


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_policy: SchemaPolicy | None = None


class ReadOptionsIn(BaseModel):
    """How to read a file, when it is not UTF-8 CSV with a header and commas."""

    model_config = ConfigDict(extra="forbid")

    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = Field(default=None, max_length=40)
    header: bool | None = None
    quote_char: str | None = Field(default=None, min_length=1, max_length=1)


class PartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    dataset: str = Field(pattern=NAME)
    operation: Operation
    format: Format = "csv"
    options: ReadOptionsIn = Field(default_factory=ReadOptionsIn)


class JobCreate(BaseModel):
    """A multi-part job: upload each part, then start it (or set `start` to queue it when the
    last part arrives). All parts apply atomically, or none."""

    model_config = ConfigDict(extra="forbid")

    parts: list[PartIn] = Field(min_length=1, max_length=100)
    dry_run: bool = False
    start: bool = False
    max_errors: int | None = Field(default=0, ge=0)


class RecordsJob(BaseModel):
    """Inline records: `{operation, records: [...]}` (read incrementally, never whole)."""

    model_config = ConfigDict(extra="forbid")

    operation: Operation = "upsert"
    records: list[dict[str, Any]]
    dry_run: bool = False
    max_errors: int | None = Field(default=0, ge=0)
    skip_invalid: bool = Field(default=False, description="Skip every row that fails validation")
    keys: list[str] | None = Field(
        default=None, description="Key fields, used when the dataset is created by this job"
    )


# Accounts ------------------------------------------------------------------------------------

Password = Annotated[str, Field(min_length=1, max_length=1024)]


class LoginIn(BaseModel):
    """A user's credentials; `workspace` chooses one of theirs (default: `default`, or the only
    one). The token acts in that workspace."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=255)
    password: Password
    workspace: str | None = Field(default=None, pattern=NAME)


class Login(BaseModel):
    token: str = Field(description="Send it as `Authorization: Bearer <token>`")
    token_type: Literal["bearer"]
    expires_at: str
    workspace: str
    role: Role


class Me(BaseModel):
    """Who the credential acts as: a user (login token) or an API key, in one workspace."""

    workspace: str
    role: Role
    username: str | None
    key_id: int | None
    instance_admin: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


class UserCreate(BaseModel):
    """A new user with a role in the workspace of the admin who creates it."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=NAME)
    password: Password
    role: Role


class UserCreated(BaseModel):
    username: str
    role: Role
    workspace: str


class Member(BaseModel):
    username: str
    role: Role
    created_at: str | None


class MemberList(BaseModel):
    results: list[Member]
    next: str | None = Field(description="Cursor of the next page; null on the last page")


class ApiKeyCreate(BaseModel):
    """A new API key in the admin's workspace; it never expires unless `expires_at` says."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    role: Role
    expires_at: datetime | None = Field(default=None, description="UTC when no zone is given")


class ApiKey(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    role: Role
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked: bool


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The secret: shown here once, stored only as a hash")


WebhookEvent = Literal["job.succeeded", "job.failed", "job.cancelled"]


class WebhookCreate(BaseModel):
    """Where to POST the workspace's job events (all three unless `events` says)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, examples=["https://erp.example.com/mdhub"])
    events: list[WebhookEvent] | None = Field(default=None, min_length=1)


class Webhook(BaseModel):
    id: int
    url: str
    events: list[WebhookEvent]
    created_at: str


class WebhookCreated(Webhook):
    secret: str = Field(
        description="Signs each delivery: `X-Mdhub-Signature: sha256=<HMAC-SHA256 of the body>`; "
        "shown here once"
    )


class WebhookList(BaseModel):
    results: list[Webhook]
    next: int | None = Field(description="Cursor of the next page; null on the last page")


class WebhookDelivery(BaseModel):
    id: int
    job: int
    event: WebhookEvent
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None
    created_at: str
    delivered_at: str | None


class WebhookDeliveryList(BaseModel):
    results: list[WebhookDelivery]
    next: int | None = Field(description="Cursor of the next (older) page; null on the last")


class ApiKeyList(BaseModel):
    results: list[ApiKey]
    next: int | None = Field(description="Cursor of the next page; null on the last page")


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)


class Workspace(BaseModel):
    name: str
    created_at: str | None


class WorkspaceList(BaseModel):
    results: list[Workspace]
    next: str | None = Field(description="Cursor of the next page; null on the last page")


# Records ---------------------------------------------------------------------------------------


class Version(BaseModel):
    version: int
    job: int = Field(description="The job that produced the version")
    operation: str
    statistics: Statistics
    row_count: int = Field(description="Rows in the dataset at this version")
    full_load: bool = Field(description="Whether the job replaced the whole dataset")
    created_at: str | None


class VersionList(BaseModel):
    results: list[Version]
    next: int | None


class FindQuery(BaseModel):
    """A query in a subset of MongoDB's `find`."""

    model_config = ConfigDict(extra="forbid")

    filter: dict[str, Any] = Field(
        default_factory=dict,
        description='Conditions on fields (`{"country": "DE", "credit_limit": {"$gte": '
        "1000}}`) with `$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $not`, combined with "
        "`$and` and `$or`; dotted paths reach into object fields. Also accepted as `query`",
        examples=[{"country": "DE", "credit_limit": {"$gte": 1000}}],
    )
    projection: dict[str, int] | None = Field(
        None, description='Fields to show (`{"name": 1}`) or to hide (`{"iban": 0}`)'
    )
    sort: dict[str, int] | None = Field(
        None,
        description="Fields to order by, 1 ascending or -1 descending; the key always follows",
    )
    limit: int = Field(100, ge=1, le=10_000, description="Records per page")
    skip: int = Field(0, ge=0, description="Records to skip first (prefer `cursor`)")
    cursor: str | None = Field(
        None, description="The `next` of the previous page, with the same filter and sort"
    )

    @model_validator(mode="before")
    @classmethod
    def _query_is_filter(cls, body: Any) -> Any:
        """`query` is another name of `filter` (one or the other)."""
        if isinstance(body, dict) and "query" in body:
            if "filter" in body:
                raise ValueError("give the filter as 'filter' or as 'query', not both")
            body = {("filter" if name == "query" else name): v for name, v in body.items()}
        return body


class FindPage(BaseModel):
    results: list[dict[str, Any]]
    next: str | None = Field(description="Cursor of the next page; null on the last page")


class IndexCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[str] = Field(
        min_length=1, max_length=8, description="Fields to index, most selective first"
    )


class Index(BaseModel):
    name: str
    fields: list[str]


class IndexList(BaseModel):
    results: list[Index]
    next: None = Field(description="Always null: every index is on the one page")
