"""An Idempotency-Key whose first request died half-way: after the job was created but before
its answer was stored (the retry gets that job), and before anything was created (the key is
taken over once its reservation is stale)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from mdhub.config import Settings
from mdhub.core import times
from mdhub.db.tables import idempotency_keys, jobs
from mdhub.services import idempotency
from tests.integration.test_api import API, accepted, assert_error, wait
from tests.integration.test_records_api import create, serve

SCHEMA = {
    "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "integer"}],
    "primaryKey": ["id"],
}
BODY = {"operation": "upsert", "records": [{"id": "a", "n": 1}]}


class Died(BaseException):
    """The process ending at this point (nothing after it runs)."""


def job_count(app_dbs: Any) -> int:
    with app_dbs.meta.connect() as conn:
        return len(conn.execute(select(jobs.c.id)).all())


async def submit(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post(
        f"{API}/datasets/items/jobs", json=BODY, headers={"Idempotency-Key": key}
    )


def test_a_job_created_without_its_answer_stored_is_the_answer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        dbs = client._transport.app.state.dbs  # type: ignore[attr-defined]
        await create(client, "items", SCHEMA)

        def die(*args: Any) -> None:
            raise Died

        with monkeypatch.context() as patched:
            patched.setattr(idempotency, "complete", die)
            with pytest.raises(Died):
                await submit(client, "k-1")
        assert job_count(dbs) == 1
        again = await submit(client, "k-1")
        job_id = accepted(again)
        assert job_count(dbs) == 1
        assert (await wait(client, job_id))["status"] == "succeeded"
        # The recovered answer is now stored: a third request gets it too.
        assert accepted(await submit(client, "k-1")) == job_id

    serve(settings, body)


def test_a_reservation_that_created_nothing_is_taken_over_when_stale(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(client: httpx.AsyncClient, foreign: httpx.AsyncClient) -> None:
        dbs = client._transport.app.state.dbs  # type: ignore[attr-defined]
        await create(client, "items", SCHEMA)

        def die(*args: Any, **kwargs: Any) -> Any:
            raise Died

        with monkeypatch.context() as patched:
            patched.setattr(idempotency, "abandon", lambda *args: None)
            patched.setattr("mdhub.services.submissions.jobs.create_job", die)
            with pytest.raises(Died):
                await submit(client, "k-2")
        assert job_count(dbs) == 0
        assert_error(await submit(client, "k-2"), 409, "idempotency_in_flight")
        stale = times.now() - idempotency.IN_FLIGHT_STALE - timedelta(seconds=1)
        with dbs.meta.begin() as conn:
            conn.execute(update(idempotency_keys).values(created_at=stale))
        job_id = accepted(await submit(client, "k-2"))
        assert job_count(dbs) == 1
        assert accepted(await submit(client, "k-2")) == job_id

    serve(settings, body)
