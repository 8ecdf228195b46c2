"""Record lookups, as `GET …/records/{key}` answers them: without a thread, and mostly without
reading the dataset's description again.

The description read for one lookup is kept for the next ones, with a stamp of the dataset
(its version and last change), and each of those checks the stamp: a lookup whose dataset
changed since, or is gone, reads the description again. On PostgreSQL the check is part of
the row's own statement (one snapshot, one round trip), awaited on the event loop; on SQLite
it is a statement of its own on the metadata file, run on the event loop's thread with the
row's (mdhub.db.loop_reads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from mdhub.db import records as db_records
from mdhub.db.async_reads import AsyncReads
from mdhub.db.engine import Databases
from mdhub.db.loop_reads import LoopReads
from mdhub.errors import InvalidRequest
from mdhub.services.datasets import Dataset, get_dataset, read_dataset
from mdhub.services.records import key_values, record_fields, record_of

# Dataset descriptions kept per process (a few kilobytes each at most).
KEPT_DESCRIPTIONS = 1024


Row = Sequence[Any] | None


class Changed(Exception):
    """A kept description no longer describes its dataset."""


@dataclass(frozen=True)
class Kept:
    workspace: str
    dataset: Dataset
    stamp: tuple[Any, ...]  # what the store compares to tell that the dataset changed


class Store(Protocol):
    sqlite: bool

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def describe(self, workspace: str, name: str) -> Kept:
        """The dataset's description as it is now, stamped; NotFound when there is none."""

    async def row(self, dataset: Dataset, columns: list[str], key: dict[str, Any]) -> Row:
        """The values of the row with `key` (None when there is none)."""

    async def kept_row(self, kept: Kept, columns: list[str], key: dict[str, Any]) -> Row:
        """`row` by a kept description; Changed when the dataset is no longer as described."""


def lookup_store(dbs: Databases, database_url: str) -> Store:
    """The store of an app's lookups, by its database."""
    if dbs.kind == "postgresql":
        return AwaitedStore(AsyncReads(database_url))
    return LoopStore(LoopReads(dbs))


class RecordLookups:
    """Lookups on one store, keeping the descriptions of the datasets they read."""

    def __init__(self, store: Store, *, keep: int = KEPT_DESCRIPTIONS) -> None:
        self.store = store
        self._keep = keep
        self._kept: dict[tuple[str, str], Kept] = {}

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def record(self, workspace: str, name: str, key: str) -> dict[str, Any]:
        """The record of dataset `name` whose key is `key`; NotFound when there is none."""
        kept = self._kept.get((workspace, name))
        if kept is not None:
            try:
                return await self._kept_record(kept, key)
            except Changed:
                del self._kept[(workspace, name)]
        kept = await self.store.describe(workspace, name)
        bound = key_values(kept.dataset, key, sqlite=self.store.sqlite)
        self._remember(kept)
        fields = record_fields(kept.dataset)
        row = await self.store.row(kept.dataset, [f.name for f in fields], bound)
        return record_of(fields, row, name, key)

    async def _kept_record(self, kept: Kept, key: str) -> dict[str, Any]:
        try:
            bound = key_values(kept.dataset, key, sqlite=self.store.sqlite)
        except InvalidRequest:
            raise Changed from None  # perhaps a key of the dataset as it is now
        fields = record_fields(kept.dataset)
        row = await self.store.kept_row(kept, [f.name for f in fields], bound)
        return record_of(fields, row, kept.dataset.name, key)

    def _remember(self, kept: Kept) -> None:
        if len(self._kept) >= self._keep:
            del self._kept[next(iter(self._kept))]  # the one kept longest
        self._kept[(kept.workspace, kept.dataset.name)] = kept


class AwaitedStore:
    """PostgreSQL: statements awaited on the event loop; a kept description is checked in the
    row's own statement."""

    sqlite = False

    def __init__(self, reads: AsyncReads) -> None:
        self.reads = reads

    async def open(self) -> None:
        await self.reads.open()

    async def close(self) -> None:
        await self.reads.close()

    async def describe(self, workspace: str, name: str) -> Kept:
        dataset = await read_dataset(self.reads, workspace, name)
        return Kept(workspace, dataset, (dataset.version, dataset.updated_at))

    async def row(self, dataset: Dataset, columns: list[str], key: dict[str, Any]) -> Row:
        return await self.reads.fetch_one(
            *db_records.pg_row_query(dataset.table_name, columns, key)
        )

    async def kept_row(self, kept: Kept, columns: list[str], key: dict[str, Any]) -> Row:
        dataset = kept.dataset
        sql, params = db_records.pg_checked_row_query(dataset.id, dataset.table_name, columns, key)
        try:
            found = await self.reads.fetch_one(sql, params)
        except psycopg.errors.UndefinedTable:
            raise Changed from None  # dropped with its dataset
        if found is None or tuple(found[:2]) != kept.stamp:
            raise Changed
        return found[3:] if found[2] else None


class LoopStore:
    """SQLite: statements run on the event loop's thread; a kept description is checked by a
    statement of its own on the metadata file, before the row's."""

    sqlite = True

    def __init__(self, reads: LoopReads) -> None:
        self.reads = reads

    async def open(self) -> None:
        return None  # each connection opens on its first read, on the loop's thread

    async def close(self) -> None:
        self.reads.close()

    async def describe(self, workspace: str, name: str) -> Kept:
        # Stamped before it is read: a change in between leaves an older stamp, not a newer.
        stamp = self.reads.meta_row(*db_records.sqlite_stamp_query(workspace, name))
        dataset = get_dataset(self.reads.dbs, workspace, name)
        return Kept(workspace, dataset, stamp if stamp and stamp[0] == dataset.id else ())

    async def row(self, dataset: Dataset, columns: list[str], key: dict[str, Any]) -> Row:
        return self.reads.data_row(*db_records.sqlite_row_query(dataset.table_name, columns, key))

    async def kept_row(self, kept: Kept, columns: list[str], key: dict[str, Any]) -> Row:
        stamp = self.reads.meta_row(
            *db_records.sqlite_stamp_query(kept.workspace, kept.dataset.name)
        )
        if stamp != kept.stamp:
            raise Changed
        try:
            return await self.row(kept.dataset, columns, key)
        except sqlite3.OperationalError:
            raise Changed from None  # no such table: dropped with its dataset
