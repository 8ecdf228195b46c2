"""mdhub: a self-hosted master data hub.

The public surface: `Client` (the HTTP API from Python), the error classes (`mdhub.errors`) and
`Hub`, the engine driven in-process.
"""

from typing import Any

from mdhub.errors import (
    Conflict,
    InputError,
    InvalidRequest,
    MdhubError,
    NotFound,
    RowErrors,
    SchemaError,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Conflict",
    "InputError",
    "InvalidRequest",
    "MdhubError",
    "NotFound",
    "RowErrors",
    "SchemaError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The client is loaded when asked for, not by every import of the server.
    if name == "Client":
        from mdhub.client import Client

        return Client
    raise AttributeError(f"module 'mdhub' has no attribute {name!r}")
