"""A local copy of a dataset, kept up to date: downloaded whole once, then only what changed.

In its directory, `<dataset>.ndjson` holds the records (one JSON object per line, as
`GET …/records/{key}` gives them) and `<dataset>.sync.json` the state: the server, the version
the copy shows, the dataset's keys and schema. A sync writes the new copy beside the old one and
renames it over it, then the state the same way: a sync that dies half-way leaves the previous
copy, and the next one lists the same changes again, which does no harm (docs/sync.md).

The copy is downloaded whole on the first sync, when asked (`full`), when the server no longer
knows the changes since the copy's version (410), when the dataset's keys or schema changed,
when the copy cannot be read, and every time for a dataset without keys (it has no change log).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdhub.client.errors import GoneError

if TYPE_CHECKING:
    from mdhub.client.client import Client

Key = tuple[Any, ...]


@dataclass(frozen=True)
class SyncResult:
    """What a sync did: `full` says why the copy was downloaded whole (None: changes only)."""

    dataset: str
    path: Path
    version: int
    rows: int
    upserted: int
    deleted: int
    full: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def copy_path(directory: Path, dataset: str) -> Path:
    return directory / f"{dataset}.ndjson"


def state_path(directory: Path, dataset: str) -> Path:
    return directory / f"{dataset}.sync.json"


def sync_copy(client: Client, dataset: str, directory: Path, *, full: bool = False) -> SyncResult:
    """Bring `directory`'s copy of `dataset` up to date on the server's newest version."""
    directory.mkdir(parents=True, exist_ok=True)
    copy, state_file = copy_path(directory, dataset), state_path(directory, dataset)
    info = client.dataset(dataset)
    state = _read_state(state_file)
    reason = "asked for" if full else _why_full(client.url, dataset, info, state, copy)
    result = None
    if reason is None and state is not None:
        try:
            result = _apply_changes(client, dataset, copy, state)
        except GoneError as exc:
            reason = f"changes since version {state['version']} are no longer known: {exc.message}"
        except (ValueError, KeyError, TypeError) as exc:
            reason = f"the copy cannot be read ({exc})"
    if result is None:
        version = client.export(dataset, copy, "ndjson")
        result = SyncResult(dataset, copy, version, _count_lines(copy), 0, 0, reason)
    _write_json(
        state_file,
        {
            "url": client.url,
            "dataset": dataset,
            "version": result.version,
            "rows": result.rows,
            "keys": info["keys"],
            "schema": info["schema"],
        },
    )
    return result


def _why_full(
    url: str, dataset: str, info: dict[str, Any], state: dict[str, Any] | None, copy: Path
) -> str | None:
    if state is None or not copy.exists():
        return "no copy yet"
    if (state.get("url"), state.get("dataset")) != (url, dataset):
        return f"the copy came from {state.get('dataset')} at {state.get('url')}"
    if not info["keys"]:
        return "the dataset has no keys, so no change log"
    if (state.get("keys"), state.get("schema")) != (info["keys"], info["schema"]):
        return "the dataset's keys or schema changed"
    if state["version"] > info["version"]:
        return f"the copy's version {state['version']} is newer than the dataset's (re-created?)"
    return None


def _apply_changes(client: Client, dataset: str, copy: Path, state: dict[str, Any]) -> SyncResult:
    keys: list[str] = state["keys"]
    changed: dict[Key, bytes | None] = {}
    upserted = deleted = 0
    version = state["version"]
    with client.changes(dataset, since=state["version"]) as changes:
        for change in changes:
            if change["op"] == "end":
                version = change["version"]
            elif change["op"] == "delete":
                changed[_key(change["key"], keys)] = None
                deleted += 1
            else:
                changed[_key(change["key"], keys)] = _line(change["record"])
                upserted += 1
    rows = _rewrite(copy, keys, changed) if changed else state["rows"]
    return SyncResult(dataset, copy, version, rows, upserted, deleted, None)


def _rewrite(copy: Path, keys: list[str], changed: dict[Key, bytes | None]) -> int:
    """Write the copy with the changes applied beside it, then rename it over it; its rows."""
    pending = dict(changed)
    rows = 0
    partial = copy.with_name(copy.name + ".part")
    try:
        with copy.open("rb") as old, partial.open("wb") as new:
            for line in _records(old):
                key = _key(json.loads(line), keys)
                if key in pending:
                    replacement = pending.pop(key)
                    if replacement is None:
                        continue
                    line = replacement
                new.write(line)
                rows += 1
            for added in pending.values():
                if added is not None:
                    new.write(added)
                    rows += 1
            new.flush()
            os.fsync(new.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(copy)
    return rows


def _records(lines: Iterator[bytes]) -> Iterator[bytes]:
    for line in lines:
        if line.strip():
            yield line if line.endswith(b"\n") else line + b"\n"


def _key(values: dict[str, Any], keys: list[str]) -> Key:
    return tuple(values[k] for k in keys)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in _records(stream))


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("version"), int) else None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".part")
    with partial.open("w") as out:
        json.dump(value, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
