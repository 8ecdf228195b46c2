"""Uploads on S3-compatible object storage, end to end: a server stores an upload in a bucket
(a real moto server), a worker in another process reads it from there and applies it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.server import Processes
from tests.acceptance.test_export_memory import load
from tests.helpers import vendor, write_csv
from tests.s3_server import DUMMY_ENVIRONMENT, s3_client

ROWS = 1_000


def test_an_upload_goes_through_the_bucket_to_another_processs_worker(
    processes: Processes,
    moto_endpoint: str,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in DUMMY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    storage = {"storage_url": f"s3://{bucket}/uploads", "s3_endpoint_url": moto_endpoint}
    server = processes.serve(workers=0, **storage)
    processes.worker(**storage)
    path = write_csv(tmp_path / "vendors.csv", [vendor(i) for i in range(ROWS)])
    with server.client() as client:
        load(client, "vendors", path)
        dataset = client.get("/api/v1/datasets/vendors").json()
        record = client.get("/api/v1/datasets/vendors/records/V0999").json()
    assert (dataset["row_count"], dataset["version"]) == (ROWS, 1)
    assert record["name"] == "Vendor 999"
    listing = s3_client(moto_endpoint).list_objects_v2(Bucket=bucket)
    stored = [o for o in listing.get("Contents", [])]
    assert [o["Size"] for o in stored] == [path.stat().st_size]
    assert stored[0]["Key"].startswith("uploads/sha256/")
    assert not (processes.data_dir / "uploads").exists()
