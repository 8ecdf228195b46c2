"""Run and check the Alembic migrations of both stores."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from mdhub.db.engine import Databases
from mdhub.errors import DatabaseNotMigrated


@dataclass(frozen=True)
class Chain:
    name: str
    version_table: str


CHAINS = (Chain("meta", "mdhub_meta_version"), Chain("data", "mdhub_data_version"))


def _config(chain: Chain) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("mdhub.db.migrations") / chain.name))
    config.attributes["version_table"] = chain.version_table
    return config


def _engine(databases: Databases, chain: Chain) -> Engine:
    return databases.meta if chain.name == "meta" else databases.data


def upgrade(databases: Databases) -> None:
    """Bring both stores to the newest schema."""
    for chain in CHAINS:
        config = _config(chain)
        with _engine(databases, chain).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def pending(databases: Databases) -> dict[str, tuple[str | None, str | None]]:
    """Chains that are not at head: name → (current revision, head revision)."""
    out = {}
    for chain in CHAINS:
        head = ScriptDirectory.from_config(_config(chain)).get_current_head()
        with _engine(databases, chain).connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": chain.version_table}
            )
            current = context.get_current_revision()
        if current != head:
            out[chain.name] = (current, head)
    return out


def is_empty(databases: Databases) -> bool:
    """True for a database mdhub has never touched."""
    return not any(
        inspect(_engine(databases, chain)).has_table(chain.version_table) for chain in CHAINS
    )


def ensure_ready(databases: Databases, *, initialize_empty: bool = True) -> None:
    """Initialize a brand-new database; refuse one whose schema is behind the code."""
    if initialize_empty and is_empty(databases):
        upgrade(databases)
        return
    behind = pending(databases)
    if behind:
        detail = ", ".join(
            f"{name} at {cur or 'nothing'} (head {head})" for name, (cur, head) in behind.items()
        )
        raise DatabaseNotMigrated(
            f"the database schema is behind this version of mdhub ({detail}); run `mdhub migrate`",
            {
                "pending": {
                    name: {"current": cur, "head": head} for name, (cur, head) in behind.items()
                }
            },
        )
