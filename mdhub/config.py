"""Settings, read once from the environment (or given explicitly) and passed down as a value."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path

DEFAULT_CHANGE_RETENTION_DAYS = 30


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool_env(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in _TRUE + _FALSE:
        raise ValueError(f"{name} must be true or false, not '{os.environ[name]}'")
    return raw in _TRUE


@dataclass(frozen=True)
class Settings:
    """Everything mdhub needs to know about where it runs.

    `database_url` is a SQLAlchemy URL. For SQLite the metadata lives in that file and the dataset
    tables in a sibling file `<stem>-data.db` (see docs/architecture.md, "Two stores").
    """

    data_dir: Path = Path("mdhub-data")
    database_url: str = ""
    storage_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # HTTP server processes (`mdhub serve`); each runs `workers` in-process workers.
    processes: int = 1
    admin_password: str | None = None
    max_upload_bytes: int = 10 * 1024**3
    max_decompressed_bytes: int = 100 * 1024**3
    lease_seconds: float = 30.0
    log_format: str = "json"
    # A log line for each HTTP request (uvicorn's access log).
    access_log: bool = True
    # Days of change history kept per dataset for `/changes`; 0 keeps it forever.
    change_retention_days: int = DEFAULT_CHANGE_RETENTION_DAYS

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'mdhub.db'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", str(self.data_dir / "uploads"))

    @property
    def change_retention(self) -> timedelta | None:
        """How long change history is kept (None: forever)."""
        days = self.change_retention_days
        return timedelta(days=days) if days > 0 else None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from `MDHUB_*` environment variables; keyword overrides win."""
        values: dict[str, object] = {
            "data_dir": Path(os.environ.get("MDHUB_DATA_DIR") or "mdhub-data"),
            "database_url": os.environ.get("MDHUB_DATABASE_URL", ""),
            "storage_url": os.environ.get("MDHUB_STORAGE_URL", ""),
            "host": os.environ.get("MDHUB_HOST") or "127.0.0.1",
            "port": _int_env("MDHUB_PORT", 8000),
            "workers": _int_env("MDHUB_WORKERS", 1),
            "processes": _int_env("MDHUB_PROCESSES", 1),
            "admin_password": os.environ.get("MDHUB_ADMIN_PASSWORD") or None,
            "max_upload_bytes": _int_env("MDHUB_MAX_UPLOAD_BYTES", 10 * 1024**3),
            "max_decompressed_bytes": _int_env("MDHUB_MAX_DECOMPRESSED_BYTES", 100 * 1024**3),
            "lease_seconds": float(os.environ.get("MDHUB_LEASE_SECONDS") or 30.0),
            "log_format": os.environ.get("MDHUB_LOG_FORMAT") or "json",
            "access_log": _bool_env("MDHUB_ACCESS_LOG", True),
            "change_retention_days": _int_env(
                "MDHUB_CHANGE_RETENTION_DAYS", DEFAULT_CHANGE_RETENTION_DAYS
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def environment(self) -> dict[str, str]:
        """These settings as the `MDHUB_*` variables that `from_env` reads back."""
        return {
            f"MDHUB_{item.name.upper()}": str(value)
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None
        }
