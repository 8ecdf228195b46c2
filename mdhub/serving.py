"""Running the HTTP server: one process, or several sharing one listening socket.

One Python process answers on one core at a time. With `processes` > 1, uvicorn starts that
many server processes; each builds its app from the environment (`app_from_environment`),
which carries the settings this process was given, and runs its own in-process workers. The
database is initialized and the first admin created here, once, before they start, so that
they do not race to do it. Their metrics are summed at each scrape, whichever answers it
(Prometheus client's multiprocess mode, in a directory removed on exit).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from typing import Any

import uvicorn
from fastapi import FastAPI

from mdhub.app import announce_admin_password, create_app
from mdhub.config import Settings
from mdhub.db import migrate
from mdhub.db.engine import open_databases
from mdhub.observability.metrics import MULTIPROCESS_DIR_ENV
from mdhub.services import accounts


def serve(settings: Settings, *, log_config: dict[str, Any], log_level: str) -> None:
    """Answer HTTP on `settings.host`:`settings.port` until stopped."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config,
        "log_level": log_level,
        "access_log": settings.access_log,
    }
    if settings.processes == 1:
        app = create_app(settings)
        freeze_startup_heap()
        uvicorn.run(app, **options)
        return
    prepare_databases(settings)
    metrics_dir = tempfile.mkdtemp(prefix="mdhub-metrics-")
    os.environ.update(settings.environment())
    os.environ[MULTIPROCESS_DIR_ENV] = metrics_dir
    try:
        uvicorn.run(
            f"{__name__}:app_from_environment",
            factory=True,
            workers=settings.processes,
            **options,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def prepare_databases(settings: Settings) -> None:
    """Initialize a new database and create the first admin (printing a generated password)."""
    dbs = open_databases(settings.database_url)
    try:
        migrate.ensure_ready(dbs)
        generated = accounts.ensure_admin(dbs, settings.admin_password)
    finally:
        dbs.dispose()
    if generated:
        announce_admin_password(generated)


def app_from_environment() -> FastAPI:
    """The app of one server process among several (uvicorn calls this in each)."""
    app = create_app(Settings.from_env())
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Leave the objects made so far (modules, routes, schemas: never garbage) out of the
    cyclic garbage collector's passes. A full pass over them stalls every request for 90 ms
    and more on a small machine; over what requests leave behind, for a few milliseconds."""
    gc.collect()
    gc.freeze()
