"""Keyset paging of the metadata lists (datasets, users, API keys, workspaces, webhooks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select


def page_after(
    query: Select[Any], column: ColumnElement[Any], after: Any, limit: int | None
) -> Select[Any]:
    """`query` in `column` order from just after `after` (from the start when None), at most
    `limit` rows (None: all)."""
    if after is not None:
        query = query.where(column > after)
    return query.order_by(column).limit(limit)
