"""Webhooks: a workspace admin's URLs that are told when a job ends, and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from mdhub.api.auth import Admin
from mdhub.api.deps import Cursor, Dbs, Limit, page_of
from mdhub.api.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryList,
    WebhookList,
    error_responses,
)
from mdhub.services import webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The webhook's id")]


@router.get("", response_model=WebhookList, responses=error_responses())
def list_webhooks(
    principal: Admin, dbs: Dbs, cursor: Cursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The workspace's webhooks by id (never their secrets)."""
    found = webhooks.list_webhooks(dbs, principal.workspace, after=cursor, limit=limit + 1)
    return page_of(found, limit, "id")


@router.post("", status_code=201, response_model=WebhookCreated, responses=error_responses())
def create_webhook(body: WebhookCreate, principal: Admin, dbs: Dbs) -> dict[str, Any]:
    """POST each job event of the workspace to `url`, signed with the `secret` answered here
    (once). A delivery that does not get a 2xx is tried again, up to 8 times over some 20
    minutes."""
    events = [str(event) for event in body.events] if body.events else None
    return webhooks.create_webhook(dbs, principal.workspace, body.url, events)


@router.delete("/{webhook_id}", status_code=204, responses=error_responses(404))
def delete_webhook(webhook_id: WebhookId, principal: Admin, dbs: Dbs) -> Response:
    """Stop sending to this webhook (deliveries not yet sent are dropped)."""
    webhooks.delete_webhook(dbs, principal.workspace, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries", response_model=WebhookDeliveryList, responses=error_responses(404)
)
def list_deliveries(
    webhook_id: WebhookId, principal: Admin, dbs: Dbs, cursor: Cursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The webhook's deliveries, newest first: pending, delivered or failed, with attempts and
    the last error."""
    found = webhooks.list_deliveries(
        dbs, principal.workspace, webhook_id, before=cursor, limit=limit + 1
    )
    return page_of(found, limit, "id")
