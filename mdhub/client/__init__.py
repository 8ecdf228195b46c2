"""The Python client of mdhub's HTTP API: `from mdhub import Client`."""

from mdhub.client.client import Client
from mdhub.client.errors import (
    AuthError,
    ClientError,
    JobFailed,
    NetworkError,
    NotFoundError,
    RejectedError,
    ServerError,
    UnavailableError,
    WaitTimeout,
)
from mdhub.client.retry import RetryPolicy

__all__ = [
    "AuthError",
    "Client",
    "ClientError",
    "JobFailed",
    "NetworkError",
    "NotFoundError",
    "RejectedError",
    "RetryPolicy",
    "ServerError",
    "UnavailableError",
    "WaitTimeout",
]
