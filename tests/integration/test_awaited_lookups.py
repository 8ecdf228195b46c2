"""Record lookups awaited on PostgreSQL keep a dataset's description from one lookup to the
next and check it in the lookup's own statement: one statement while the dataset is as it
was, and the dataset as it is now as soon as a job, a deletion or a new dataset of the same
name changed it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mdhub.db.async_reads import AsyncReads
from mdhub.errors import InvalidRequest, NotFound
from mdhub.services.hub import Hub
from mdhub.services.records import AwaitedLookups
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


@pytest.fixture
def pg_hub(hub: Hub, tmp_path: Path) -> Iterator[Hub]:
    if hub.dbs.kind != "postgresql":
        pytest.skip("SQLite lookups read the description from a local file each time")
    hub.create_dataset("vendors", schema=VENDORS_SCHEMA, keys=["id"], schema_policy="add")
    hub.apply("vendors", write_csv(tmp_path / "v.csv", ROWS))
    yield hub


def with_lookups(hub: Hub, body: Callable[[AwaitedLookups, CountedReads], Awaitable[None]]) -> None:
    async def run() -> None:
        reads = CountedReads(hub.dbs.meta.url.render_as_string(hide_password=False))
        await reads.open()
        try:
            await body(AwaitedLookups(reads), reads)
        finally:
            await reads.close()

    asyncio.run(run())


def test_a_kept_description_makes_a_lookup_one_statement(pg_hub: Hub) -> None:
    async def body(lookups: AwaitedLookups, reads: CountedReads) -> None:
        assert (await lookups.record(pg_hub.workspace, "vendors", "V1"))["name"] == "Vendor 1"
        assert reads.statements == 2  # the description, then the row
        assert (await lookups.record(pg_hub.workspace, "vendors", "V2"))["name"] == "Vendor 2"
        assert reads.statements == 3
        with pytest.raises(NotFound, match="no record with key 'V9'"):
            await lookups.record(pg_hub.workspace, "vendors", "V9")
        assert reads.statements == 4

    with_lookups(pg_hub, body)


def test_a_job_that_adds_a_field_is_seen_by_the_next_lookup(pg_hub: Hub, tmp_path: Path) -> None:
    async def body(lookups: AwaitedLookups, reads: CountedReads) -> None:
        assert "region" not in await lookups.record(pg_hub.workspace, "vendors", "V1")
        changed = [["V1", "Renamed", "2.5", 1, "false", "2024-02-01", "North"]]
        path = write_csv(tmp_path / "more.csv", changed, header=[*HEADER, "region"])
        assert pg_hub.apply("vendors", path)["status"] == "succeeded"
        record = await lookups.record(pg_hub.workspace, "vendors", "V1")
        assert (record["name"], record["region"]) == ("Renamed", "North")
        assert (await lookups.record(pg_hub.workspace, "vendors", "V2"))["region"] is None

    with_lookups(pg_hub, body)


def test_a_dataset_deleted_or_made_anew_is_seen_by_the_next_lookup(
    pg_hub: Hub, tmp_path: Path
) -> None:
    async def body(lookups: AwaitedLookups, reads: CountedReads) -> None:
        workspace = pg_hub.workspace
        assert (await lookups.record(workspace, "vendors", "V1"))["id"] == "V1"
        pg_hub.delete_dataset("vendors")
        with pytest.raises(NotFound, match="dataset 'vendors' not found"):
            await lookups.record(workspace, "vendors", "V1")
        # The same name, another key type and table.
        schema = {"fields": [{"name": "n", "type": "integer"}, {"name": "label", "type": "string"}]}
        pg_hub.create_dataset("vendors", schema={**schema, "primaryKey": ["n"]}, keys=["n"])
        pg_hub.apply(
            "vendors", write_csv(tmp_path / "n.csv", [[7, "seven"]], header=["n", "label"])
        )
        assert await lookups.record(workspace, "vendors", "7") == {"n": 7, "label": "seven"}
        pg_hub.delete_dataset("vendors")
        pg_hub.create_dataset("vendors", schema=VENDORS_SCHEMA, keys=["id"])
        pg_hub.apply("vendors", write_csv(tmp_path / "v.csv", ROWS))
        # A key the kept description (integer n) refuses is looked for in the dataset as it
        # is now; and the other way round.
        assert (await lookups.record(workspace, "vendors", "V2"))["name"] == "Vendor 2"
        pg_hub.delete_dataset("vendors")
        pg_hub.create_dataset("vendors", schema={**schema, "primaryKey": ["n"]}, keys=["n"])
        with pytest.raises(InvalidRequest, match="not a valid integer"):
            await lookups.record(workspace, "vendors", "V2")

    with_lookups(pg_hub, body)


def test_descriptions_kept_are_bounded(pg_hub: Hub, tmp_path: Path) -> None:
    pg_hub.create_dataset("others", schema=VENDORS_SCHEMA, keys=["id"])
    pg_hub.apply("others", write_csv(tmp_path / "o.csv", ROWS))

    async def body(lookups: AwaitedLookups, reads: CountedReads) -> None:
        for keep, statements in ((1, 2 + 2 + 2 + 2), (2, 2 + 2 + 1 + 1)):
            kept, before = AwaitedLookups(reads, keep=keep), reads.statements
            for name in ("vendors", "others", "vendors", "others"):
                assert (await kept.record(pg_hub.workspace, name, "V1"))["id"] == "V1"
            assert reads.statements - before == statements

    with_lookups(pg_hub, body)
