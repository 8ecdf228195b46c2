"""Change-log retention: versions whose change-log rows were pruned.

Revision ID: 0002_data
Revises: 0001_data
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_data"
down_revision: str | None = "0001_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(
            sa.Column("changes_pruned", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("changes_pruned")
