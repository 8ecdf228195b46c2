"""Names users give things (datasets, users, keys, workspaces): one pattern for all."""

from __future__ import annotations

import re

from mdhub.errors import InvalidRequest

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(kind: str, name: str) -> None:
    """InvalidRequest unless `name` is 1 to 64 letters, digits, '_', '.' or '-'."""
    if not NAME_PATTERN.match(name):
        raise InvalidRequest(
            f"invalid {kind} {name!r}: 1 to 64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
