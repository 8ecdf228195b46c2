"""The one exception tree of mdhub; each error has a stable code and an HTTP status.

    MdhubError
    ├── InvalidRequest            400  a request or option that cannot be carried out
    │   ├── SchemaError           400  a schema descriptor that is not valid
    │   ├── InvalidQuery          400  a filter, sort, projection or cursor that cannot be run
    │   └── UnsupportedOperation  400  an operation the dataset cannot take
    ├── Unauthorized              401  no valid credential (missing, wrong, expired, revoked)
    ├── Forbidden                 403  the credential's role does not allow this
    ├── NotFound                  404  no such dataset, job or record (in this workspace)
    ├── Conflict                  409  the object exists, or is in a state that forbids this
    │   └── IdempotencyInFlight   409  the first request with this Idempotency-Key is still running
    ├── Gone                      410  history no longer kept: download the whole dataset again
    ├── PayloadTooLarge           413  a request body over MDHUB_MAX_UPLOAD_BYTES
    ├── InputError                422  a file that cannot be read (encoding, structure, columns)
    ├── RowErrors                 422  rows that failed validation, past the allowed number
    ├── IdempotencyKeyReused      422  an Idempotency-Key sent again with a different request
    ├── RateLimited               429  too many failed logins; retry later
    ├── JobCancelled              409  the job was cancelled while it ran
    ├── LeaseLost                 409  a worker's claim on a job was taken over (it must not commit)
    ├── DatabaseNotMigrated       503  the database is behind the code: run `mdhub migrate`
    └── InternalError             500  anything unexpected (a bug)

Nothing below the HTTP layer raises HTTP exceptions; the API turns these into
`{"error": {"code", "message", "details"}}` in one place.
"""

from __future__ import annotations

from typing import Any


class MdhubError(Exception):
    """Base of every mdhub error."""

    code = "error"
    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The error in the API's error shape (without the outer `error` key)."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidRequest(MdhubError):
    code = "invalid_request"
    status = 400


class SchemaError(InvalidRequest):
    code = "invalid_schema"


class InvalidQuery(InvalidRequest):
    code = "invalid_query"


class UnsupportedOperation(InvalidRequest):
    code = "unsupported_operation"


class Unauthorized(MdhubError):
    code = "unauthorized"
    status = 401


class Forbidden(MdhubError):
    code = "forbidden"
    status = 403


class NotFound(MdhubError):
    code = "not_found"
    status = 404


class Conflict(MdhubError):
    code = "conflict"
    status = 409


class IdempotencyInFlight(Conflict):
    code = "idempotency_in_flight"


class Gone(MdhubError):
    """What was asked for is no longer kept (changes since a version older than the history)."""

    code = "gone"
    status = 410


class PayloadTooLarge(MdhubError):
    code = "payload_too_large"
    status = 413


class InputError(MdhubError):
    """A file that cannot be read at all: bad encoding, broken structure, wrong columns."""

    code = "invalid_input"
    status = 422


class RowErrors(MdhubError):
    """More rows failed validation than the job allows."""

    code = "row_errors"
    status = 422


class IdempotencyKeyReused(MdhubError):
    code = "idempotency_key_reused"
    status = 422


class RateLimited(MdhubError):
    code = "rate_limited"
    status = 429


class JobCancelled(MdhubError):
    code = "cancelled"
    status = 409


class LeaseLost(MdhubError):
    code = "lease_lost"
    status = 409


class DatabaseNotMigrated(MdhubError):
    code = "database_not_migrated"
    status = 503


class InternalError(MdhubError):
    code = "internal_error"
    status = 500
