"""The Python client of mdhub's HTTP API: `from mdhub import Client`."""

from mdhub.client.client import Client
from mdhub.client.errors import (
    AuthError,
    ClientError,
    GoneError,
    JobFailed,
    NetworkError,
    NotFoundError,
    RejectedError,
    ServerError,
    UnavailableError,
    WaitTimeout,
)
from mdhub.client.retry import RetryPolicy
from mdhub.client.sync import SyncResult

__all__ = [
    "AuthError",
    "Client",
    "ClientError",
    "GoneError",
    "JobFailed",
    "NetworkError",
    "NotFoundError",
    "RejectedError",
    "RetryPolicy",
    "ServerError",
    "SyncResult",
    "UnavailableError",
    "WaitTimeout",
]
