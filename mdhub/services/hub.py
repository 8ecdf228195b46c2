"""`Hub`: one object that wires settings, databases and services for local use (CLI, bench)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdhub.config import Settings
from mdhub.db import migrate
from mdhub.db.engine import Databases, open_databases
from mdhub.errors import NotFound
from mdhub.ingest.job import Reporter
from mdhub.services import datasets, job_views, jobs
from mdhub.services.datasets import Dataset
from mdhub.services.submissions import guess_format
from mdhub.storage import Storage, open_storage
from mdhub.worker.pool import Worker, WorkerOptions
from mdhub.worker.runner import LOCAL_FILE

WAIT_POLL_SECONDS = 0.2


@dataclass
class Hub:
    """The engine on the configured database, driven in-process."""

    settings: Settings
    dbs: Databases
    storage: Storage = field(repr=False)
    workspace: str = "default"

    @classmethod
    def open(cls, settings: Settings | None = None, *, initialize: bool = True) -> Hub:
        """Open the database; a brand-new one is initialized, an outdated one refused."""
        settings = settings or Settings.from_env()
        dbs = open_databases(settings.database_url)
        try:
            migrate.ensure_ready(dbs, initialize_empty=initialize)
        except Exception:
            dbs.dispose()
            raise
        return cls(settings=settings, dbs=dbs, storage=open_storage(settings.storage_url))

    def close(self) -> None:
        self.dbs.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_dataset(
        self,
        name: str,
        *,
        schema: dict[str, Any] | None = None,
        keys: list[str] | None = None,
        schema_policy: str = "reject",
    ) -> Dataset:
        return datasets.create_dataset(
            self.dbs, self.workspace, name, schema=schema, keys=keys, schema_policy=schema_policy
        )

    def dataset(self, name: str) -> Dataset:
        return datasets.get_dataset(self.dbs, self.workspace, name)

    def datasets(self) -> list[Dataset]:
        return datasets.list_datasets(self.dbs, self.workspace)

    def delete_dataset(self, name: str) -> None:
        datasets.delete_dataset(self.dbs, self.workspace, name)

    def submit(
        self,
        dataset: str,
        path: Path,
        *,
        operation: str = "upsert",
        format: str | None = None,
        dry_run: bool = False,
        max_errors: int | None = 0,
        keys: list[str] | None = None,
        read_options: dict[str, Any] | None = None,
    ) -> int:
        """Queue a job applying one file to a dataset; returns the job id.

        A dataset that does not exist yet is created with `keys` and a schema inferred from
        the file.
        """
        try:
            self.dataset(dataset)
        except NotFound:
            self.create_dataset(dataset, keys=keys)
        part = jobs.NewPart(
            dataset=dataset,
            operation=operation,
            location=f"{LOCAL_FILE}{path.resolve()}",
            bytes=path.stat().st_size,
            format=format or guess_format(path.name),
            name=path.name,
            read_options=read_options or {},
        )
        return jobs.create_job(
            self.dbs, self.workspace, [part], dry_run=dry_run, max_errors=max_errors
        )

    def run(self, job_id: int, viewer: Reporter | None = None) -> dict[str, Any]:
        """Run a queued job in this thread as soon as it is its turn (or wait while a running
        server's worker runs it); returns the finished job."""
        worker = Worker(
            self.dbs,
            self.storage,
            options=WorkerOptions.from_settings(self.settings),
        )
        while True:
            worker.run_once(job_id=job_id, viewer=viewer)
            job = self.job(job_id)
            if job["status"] in jobs.FINAL_STATES:
                return job
            time.sleep(WAIT_POLL_SECONDS)

    def apply(self, dataset: str, path: Path, **options: Any) -> dict[str, Any]:
        """`submit` then `run`: apply one file now and return the finished job."""
        return self.run(self.submit(dataset, path, **options))

    def job(self, job_id: int) -> dict[str, Any]:
        return job_views.get_job(self.dbs, job_id, workspace=self.workspace)
