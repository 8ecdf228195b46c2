"""Alembic environment of the data chain."""

from mdhub.db.migrations.env_common import run
from mdhub.db.tables import data_metadata

run(data_metadata)
