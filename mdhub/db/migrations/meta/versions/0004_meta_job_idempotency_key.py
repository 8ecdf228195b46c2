"""Jobs record the Idempotency-Key they were created with (in the same transaction), so a
request whose answer was never stored is answered from its job.

Revision ID: 0004_meta
Revises: 0003_meta
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_meta"
down_revision: str | None = "0003_meta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    op.create_index("ix_jobs_idempotency_key", "jobs", ["workspace_id", "idempotency_key"])


def downgrade() -> None:
    op.drop_index("ix_jobs_idempotency_key", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("idempotency_key")
