"""A stored JSON request body read as a stream: one object whose top-level fields must be
known, a few small fields collected, and an array of records that a job reads again later."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson

from mdhub.errors import InputError, InvalidRequest


@dataclass(frozen=True)
class ScannedBody:
    """What a body holds besides its records: the last value read at each collected field,
    the strings in each collected list, and whether the array of records is there."""

    values: dict[str, Any]
    lists: dict[str, list[str]]
    has_array: bool


def scan(
    body: Path,
    *,
    known: Collection[str],
    array: str,
    values: Collection[str] = (),
    lists: Collection[str] = (),
) -> ScannedBody:
    """Walk `body` once, without holding it: refuse anything but an object of `known` fields
    (unknown ones would otherwise be dropped silently), collect the fields named in `values`
    and the strings of the lists named in `lists`, and note whether `array` is an array."""
    found: dict[str, Any] = {}
    items = {f"{name}.item": name for name in lists}
    strings: dict[str, list[str]] = {name: [] for name in lists}
    has_array = False
    try:
        with body.open("rb") as stream:
            for prefix, event, value in ijson.parse(stream):
                if prefix == "" and event not in ("start_map", "end_map", "map_key"):
                    raise InvalidRequest("the request body must be one JSON object")
                if prefix == "" and event == "map_key" and value not in known:
                    raise InvalidRequest(
                        f"unknown field {value!r} in the request body "
                        f"(known: {', '.join(sorted(known))})",
                        {"unknown": [value]},
                    )
                if prefix in values:
                    found[prefix] = value
                elif prefix in items and isinstance(value, str):
                    strings[items[prefix]].append(value)
                elif prefix == array and event == "start_array":
                    has_array = True
    except ijson.JSONError as exc:
        raise InputError(f"the request body is not valid JSON: {exc}") from None
    return ScannedBody(values=found, lists=strings, has_array=has_array)
