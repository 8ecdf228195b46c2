"""Alembic environment of the meta chain."""

from mdhub.db.migrations.env_common import run
from mdhub.db.tables import meta_metadata

run(meta_metadata)
