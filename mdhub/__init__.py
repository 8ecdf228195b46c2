"""mdhub: a self-hosted master data hub.

The public surface: the error classes (`mdhub.errors`) and `Hub`, the engine driven in-process.
"""

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
    "Conflict",
    "InputError",
    "InvalidRequest",
    "MdhubError",
    "NotFound",
    "RowErrors",
    "SchemaError",
    "__version__",
]
