"""The fixed tables: metadata (workspaces, datasets, jobs…) and the dataset store's versions.

Dataset rows live in one table per dataset, built from its schema by `mdhub.db.dataset_tables`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

BigId = BigInteger().with_variant(Integer(), "sqlite")

meta_metadata = MetaData()
data_metadata = MetaData()

workspaces = Table(
    "workspaces",
    meta_metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

datasets = Table(
    "datasets",
    meta_metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("table_name", String(63), nullable=False, unique=True),
    Column("schema", JSON, nullable=True),
    Column("keys", JSON, nullable=False),
    Column("schema_policy", String(16), nullable=False),
    Column("version", BigInteger, nullable=False, default=0),
    Column("row_count", BigInteger, nullable=False, default=0),
    Column("last_job_id", BigId, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("workspace_id", "name", name="uq_datasets_workspace_name"),
)

jobs = Table(
    "jobs",
    meta_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("options", JSON, nullable=False),
    Column("rows_read", BigInteger, nullable=False, default=0),
    Column("bytes_read", BigInteger, nullable=False, default=0),
    Column("bytes_total", BigInteger, nullable=False, default=0),
    Column("statistics", JSON, nullable=True),
    Column("result", JSON, nullable=True),
    Column("error", JSON, nullable=True),
    Column("error_count", BigInteger, nullable=False, default=0),
    # The fencing token: raised by each claim; only the holder of the newest attempt may
    # commit (see mdhub.worker.queue).
    Column("attempt", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # Order of acceptance: jobs on one dataset apply in this order (invariant 6).
    Column("queue_position", BigInteger, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    # The Idempotency-Key of the request that created the job (see services.idempotency).
    Column("idempotency_key", String(255), nullable=True),
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_idempotency_key", "workspace_id", "idempotency_key"),
    Index("ix_jobs_queue", "status", "queue_position"),
)

job_parts = Table(
    "job_parts",
    meta_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", BigId, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True),
    Column("dataset_name", String(64), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("read_options", JSON, nullable=False),
    Column("location", Text, nullable=True),
    Column("bytes", BigInteger, nullable=True),
    Column("checksum", String(80), nullable=True),
    Column("statistics", JSON, nullable=True),
    UniqueConstraint("job_id", "name", name="uq_job_parts_job_name"),
    Index("ix_job_parts_dataset", "dataset_id"),
)

row_errors = Table(
    "row_errors",
    meta_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", BigId, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("part", String(255), nullable=False),
    Column("line", BigInteger, nullable=True),
    Column("column", Text, nullable=True),
    Column("value", Text, nullable=True),
    Column("message", Text, nullable=False),
    Index("ix_row_errors_job", "job_id", "id"),
)

job_log = Table(
    "job_log",
    meta_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", BigId, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("level", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_job_log_job", "job_id", "id"),
)

# A request's Idempotency-Key and the first answer given to it (invariant 3).
idempotency_keys = Table(
    "idempotency_keys",
    meta_metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_body", JSON, nullable=True),
    Column("location", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_idempotency_keys_expires", "expires_at"),
)

# In the dataset store, committed in the same transaction as the rows: a version row is the
# job's "applied" mark, so recovery after a crash knows exactly whether the job committed.
versions = Table(
    "versions",
    data_metadata,
    Column("dataset_id", Integer, primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("job_id", BigId, nullable=False),
    Column("operation", String(16), nullable=False),
    Column("statistics", JSON, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("full_load", Boolean, nullable=False),
    Column("schema", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Its change-log rows were pruned (past MDHUB_CHANGE_RETENTION_DAYS): changes can be listed
    # only since the newest such version (mdhub.services.retention).
    Column("changes_pruned", Boolean, nullable=False, default=False),
    UniqueConstraint("job_id", "dataset_id", name="uq_versions_job_dataset"),
)

users = Table(
    "users",
    meta_metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    # May create and delete workspaces (the first user, `admin`).
    Column("instance_admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
)

memberships = Table(
    "memberships",
    meta_metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("role", String(16), nullable=False),
)

# Login tokens and API keys are random 256-bit secrets: stored as their SHA-256, never in clear.
sessions = Table(
    "sessions",
    meta_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

api_keys = Table(
    "api_keys",
    meta_metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

# Failed logins per user name and per client address, in fixed windows (rate limit).
login_failures = Table(
    "login_failures",
    meta_metadata,
    Column("subject", String(160), primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("failures", Integer, nullable=False),
)

# Where a workspace's job events are POSTed, signed with `secret` (see services.webhooks).
webhooks = Table(
    "webhooks",
    meta_metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One event for one webhook, written with the job's final status (the outbox), then sent.
webhook_deliveries = Table(
    "webhook_deliveries",
    meta_metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("job_id", BigId, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),
    # pending → delivered | failed (after the last attempt)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
)
