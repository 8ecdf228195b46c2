"""Record lookups on both databases keep a dataset's description from one lookup to the next
and check a stamp of the dataset instead: the description is not read again while the
dataset is as it was (on PostgreSQL a lookup is then one statement), and the dataset as it is
now is read as soon as a job, a deletion or a new dataset of the same name changed it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from mdhub.db.async_reads import AsyncReads
from mdhub.errors import InvalidRequest, NotFound
from mdhub.services.datasets import Dataset
from mdhub.services.hub import Hub
from mdhub.services.lookups import AwaitedStore, Kept, RecordLookups, Row, Store, lookup_store
from tests.helpers import HEADER, VENDORS_SCHEMA, write_csv

ROWS = [[f"V{i}", f"Vendor {i}", "1.5", i, "true", "2024-01-31"] for i in range(3)]


class CountedReads(AsyncReads):
    """AsyncReads that counts the statements it runs."""

    statements = 0

    async def fetch_one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        self.statements += 1
        return await super().fetch_one(sql, params)

    async def fetch_named(self, sql: str, params: Mapping[str, Any]) -> Any:
        self.statements += 1
        return await super().fetch_named(sql, params)


class CountedStore:
    """A store that counts the descriptions it reads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sqlite = store.sqlite
        self.described = 0

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def describe(self, workspace: str, name: str) -> Kept:
        self.described += 1
        return await self.store.describe(workspace, name)

    async def row(self, dataset: Dataset, columns: list[str], key: dict[str, Any]) -> Row:
        return await self.store.row(dataset, columns, key)

    async def kept_row(self, kept: Kept, columns: list[str], key: dict[str, Any]) -> Row:
        return await self.store.kept_row(kept, columns, key)


@pytest.fixture
def loaded(hub: Hub, tmp_path: Path) -> Hub:
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA, keys=["id"], schema_policy="add")
    hub.apply("vendors", write_csv(tmp_path / "v.csv", ROWS))
    return hub


def with_lookups(hub: Hub, body: Callable[[RecordLookups, CountedStore], Awaitable[None]]) -> None:
    async def run() -> None:
        url = hub.dbs.meta.url.render_as_string(hide_password=False)
        store = CountedStore(lookup_store(hub.dbs, url))
        await store.open()
        try:
            await body(RecordLookups(store), store)
        finally:
            await store.close()

    asyncio.run(run())


def test_a_kept_description_is_not_read_again(loaded: Hub) -> None:
    async def body(lookups: RecordLookups, store: CountedStore) -> None:
        assert (await lookups.record(loaded.workspace, "vendors", "V1"))["name"] == "Vendor 1"
        assert (await lookups.record(loaded.workspace, "vendors", "V2"))["name"] == "Vendor 2"
        with pytest.raises(NotFound, match="no record with key 'V9'"):
            await lookups.record(loaded.workspace, "vendors", "V9")
        assert store.described == 1

    with_lookups(loaded, body)


def test_on_postgresql_a_kept_description_makes_a_lookup_one_statement(loaded: Hub) -> None:
    if loaded.dbs.kind != "postgresql":
        pytest.skip("SQLite checks the stamp on the metadata file, the row on the data file")

    async def run() -> None:
        reads = CountedReads(loaded.dbs.meta.url.render_as_string(hide_password=False))
        await reads.open()
        try:
            lookups = RecordLookups(AwaitedStore(reads))
            assert (await lookups.record(loaded.workspace, "vendors", "V1"))["id"] == "V1"
            assert reads.statements == 2  # the description, then the row
            assert (await lookups.record(loaded.workspace, "vendors", "V2"))["id"] == "V2"
            assert reads.statements == 3
            with pytest.raises(NotFound, match="no record with key 'V9'"):
                await lookups.record(loaded.workspace, "vendors", "V9")
            assert reads.statements == 4
        finally:
            await reads.close()

    asyncio.run(run())


def test_a_job_that_adds_a_field_is_seen_by_the_next_lookup(loaded: Hub, tmp_path: Path) -> None:
    async def body(lookups: RecordLookups, store: CountedStore) -> None:
        assert "region" not in await lookups.record(loaded.workspace, "vendors", "V1")
        changed = [["V1", "Renamed", "2.5", 1, "false", "2024-02-01", "North"]]
        path = write_csv(tmp_path / "more.csv", changed, header=[*HEADER, "region"])
        assert loaded.apply("vendors", path)["status"] == "succeeded"
        record = await lookups.record(loaded.workspace, "vendors", "V1")
        assert (record["name"], record["region"]) == ("Renamed", "North")
        assert (await lookups.record(loaded.workspace, "vendors", "V2"))["region"] is None

    with_lookups(loaded, body)


def test_a_dataset_deleted_or_made_anew_is_seen_by_the_next_lookup(
    loaded: Hub, tmp_path: Path
) -> None:
    async def body(lookups: RecordLookups, store: CountedStore) -> None:
        workspace = loaded.workspace
        assert (await lookups.record(workspace, "vendors", "V1"))["id"] == "V1"
        loaded.delete_dataset("vendors")
        with pytest.raises(NotFound, match="dataset 'vendors' not found"):
            await lookups.record(workspace, "vendors", "V1")
        # The same name, another key type and table.
        schema = {"fields": [{"name": "n", "type": "integer"}, {"name": "label", "type": "string"}]}
        loaded.create_dataset("vendors", schema={**schema, "primaryKey": ["n"]}, keys=["n"])
        loaded.apply(
            "vendors", write_csv(tmp_path / "n.csv", [[7, "seven"]], header=["n", "label"])
        )
        assert await lookups.record(workspace, "vendors", "7") == {"n": 7, "label": "seven"}
        loaded.delete_dataset("vendors")
        loaded.create_dataset("vendors", schema=VENDORS_SCHEMA, keys=["id"])
        loaded.apply("vendors", write_csv(tmp_path / "v.csv", ROWS))
        # A key the kept description (integer n) refuses is looked for in the dataset as it
        # is now; and the other way round.
        assert (await lookups.record(workspace, "vendors", "V2"))["name"] == "Vendor 2"
        loaded.delete_dataset("vendors")
        loaded.create_dataset("vendors", schema={**schema, "primaryKey": ["n"]}, keys=["n"])
        with pytest.raises(InvalidRequest, match="not a valid integer"):
            await lookups.record(workspace, "vendors", "V2")

    with_lookups(loaded, body)


def test_descriptions_kept_are_bounded(loaded: Hub, tmp_path: Path) -> None:
    loaded.create_dataset("others", schema=VENDORS_SCHEMA, keys=["id"])
    loaded.apply("others", write_csv(tmp_path / "o.csv", ROWS))

    async def body(lookups: RecordLookups, store: CountedStore) -> None:
        for keep, described in ((1, 4), (2, 2)):
            kept, before = RecordLookups(store, keep=keep), store.described
            for name in ("vendors", "others", "vendors", "others"):
                assert (await kept.record(loaded.workspace, name, "V1"))["id"] == "V1"
            assert store.described - before == described

    with_lookups(loaded, body)
