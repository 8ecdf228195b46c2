"""Alembic migrations: `meta/` for the metadata store, `data/` for the dataset store."""
