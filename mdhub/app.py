"""`create_app(settings)`: the HTTP application, wired explicitly (nothing at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mdhub import __version__
from mdhub.config import Settings
from mdhub.db import migrate
from mdhub.db.engine import open_databases
from mdhub.errors import MdhubError


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on its own databases; they are opened (and a new one initialized) at
    startup and closed at shutdown."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dbs = open_databases(settings.database_url)
        migrate.ensure_ready(dbs)
        app.state.dbs = dbs
        app.state.settings = settings
        yield
        dbs.dispose()

    app = FastAPI(title="mdhub", version=__version__, lifespan=lifespan)

    @app.exception_handler(MdhubError)
    async def _mdhub_error(_request: Request, exc: MdhubError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz(request: Request) -> JSONResponse:
        """The database answers and is migrated."""
        dbs = request.app.state.dbs
        try:
            with dbs.meta.connect() as conn:
                conn.execute(text("SELECT 1"))
            behind = migrate.pending(dbs)
        except Exception as exc:  # any failure to reach the database means "not ready"
            return JSONResponse(
                {"error": {"code": "not_ready", "message": str(exc), "details": {}}},
                status_code=503,
            )
        if behind:
            return JSONResponse(
                {
                    "error": {
                        "code": "database_not_migrated",
                        "message": "run `mdhub migrate`",
                        "details": {"pending": list(behind)},
                    }
                },
                status_code=503,
            )
        return JSONResponse({"status": "ready"})

    return app
