"""`create_app(settings)`: the HTTP application, wired explicitly (nothing at import time).

Startup opens the databases (initializing a new one, refusing an outdated one), the upload
storage, the metrics and — unless `settings.workers` is 0 — the in-process worker threads.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from mdhub import __version__
from mdhub.api import accounts as accounts_api
from mdhub.api import (
    auth,
    changes,
    datasets,
    deps,
    export,
    find,
    indexes,
    ingest,
    jobs,
    operations,
    records,
)
from mdhub.api import errors as api_errors
from mdhub.api import webhooks as webhooks_api
from mdhub.api.compat import haplo, qrvey, rossum, veracity
from mdhub.api.limits import BodyLimitMiddleware
from mdhub.api.lookup_shortcut import LookupShortcut
from mdhub.config import Settings
from mdhub.db import migrate
from mdhub.db.engine import Databases, open_databases
from mdhub.ingest.job import STAT_NAMES
from mdhub.observability.metrics import Metrics, MetricsMiddleware
from mdhub.services import accounts, job_views
from mdhub.services.lookups import RecordLookups, lookup_store
from mdhub.storage import open_storage
from mdhub.worker.pool import OnFinished, WorkerOptions, WorkerPool

API_PREFIX = "/api/v1"
APPLIED = ("inserted", "updated", "deleted")


def _record_finished(dbs: Databases, metrics: Metrics) -> OnFinished:
    def record(job_id: int, status: str, seconds: float) -> None:
        stats = job_views.job_statistics(dbs, job_id)
        applied = sum(stats.get(name, 0) for name in APPLIED if name in STAT_NAMES)
        metrics.job_finished(status, seconds, applied if status == "succeeded" else 0)

    return record


def announce_admin_password(password: str) -> None:
    """Show the generated password of the first admin once, on the console only (never logged)."""
    print(
        f"mdhub: created user 'admin' with password {password} "
        "(set MDHUB_ADMIN_PASSWORD to choose it; change it with POST /api/v1/auth/password)",
        file=sys.stderr,
        flush=True,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on its own databases, storage and workers."""
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dbs = open_databases(settings.database_url)
        pool = None
        lookups = RecordLookups(lookup_store(dbs, settings.database_url))
        try:
            migrate.ensure_ready(dbs)
            generated = accounts.ensure_admin(dbs, settings.admin_password)
            if generated:
                announce_admin_password(generated)
            storage = open_storage(settings.storage_url)
            app.state.dbs, app.state.storage, app.state.settings = dbs, storage, settings
            await lookups.open()
            app.state.lookups = lookups
            metrics.use_databases(dbs)
            if settings.workers > 0:
                pool = WorkerPool(
                    dbs,
                    storage,
                    settings.workers,
                    options=WorkerOptions.from_settings(settings),
                    on_finished=_record_finished(dbs, metrics),
                )
                pool.start()
                app.state.wake_workers = pool.wake
            yield
        finally:
            if pool is not None:
                pool.stop()
            await auth.wait_for_renewals()
            await lookups.close()
            metrics.use_databases(None)
            dbs.dispose()

    app = FastAPI(
        title="mdhub",
        version=__version__,
        description="Self-hosted master data hub: keyed datasets kept in sync by atomic jobs.",
        lifespan=lifespan,
    )
    app.openapi = lambda: auth.document_credentials(FastAPI.openapi(app))  # type: ignore[method-assign]
    app.state.metrics = metrics
    app.state.wake_workers = lambda: None
    app.state.lookups = None
    api_errors.install(app)
    # Routes are matched in order, one by one: the most frequent request, a record by its key,
    # is looked for first.
    for module in (
        records,
        accounts_api,
        datasets,
        ingest,
        jobs,
        find,
        export,
        changes,
        indexes,
        webhooks_api,
    ):
        app.include_router(
            module.router, prefix=API_PREFIX, dependencies=[Depends(deps.no_nul_characters)]
        )
    app.include_router(operations.router)
    for compat in (rossum, veracity, qrvey, haplo):
        app.include_router(compat.router, dependencies=[Depends(deps.no_nul_characters)])
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(LookupShortcut, state=app.state, metrics=metrics)
    return app
