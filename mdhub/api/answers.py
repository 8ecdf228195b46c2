"""A kept answer (`services.idempotency.Answer`) as the HTTP response it was."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from mdhub.services.idempotency import Answer


def respond(answer: Answer) -> JSONResponse:
    """The answer's status and JSON body, with its `Location` when it has one."""
    headers = {"Location": answer.location} if answer.location else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)
