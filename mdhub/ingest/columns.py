"""Match a file's columns to a dataset's schema: infer it, extend it, or refuse (pure logic)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pyarrow as pa

from mdhub.core.schema import Constraints, Field, Schema
from mdhub.errors import InputError
from mdhub.ingest.infer import describe_inference, infer_fields

INFERENCE_SAMPLE_ROWS = 10_000


@dataclass
class Resolution:
    """The schema to load with, the file columns to load (file order) and what changed."""

    schema: Schema
    used: list[str]
    created: bool = False
    added: list[Field] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def resolve_columns(
    schema: Schema | None,
    *,
    dataset: str,
    keys: tuple[str, ...],
    schema_policy: str,
    part: str,
    operation: str,
    columns: list[str],
    sample: dict[str, pa.Array],
) -> Resolution:
    """Apply the rules of DESIGN.md: a dataset without a schema takes one inferred from the
    first file; unknown columns follow the schema policy; key (and, for operations that insert
    whole rows, required) columns must be present."""
    if schema is None:
        _require(part, columns, list(keys), "key")
        inferred = infer_fields(sample, missing_values=("",), sample_rows=INFERENCE_SAMPLE_ROWS)
        rows = min(len(next(iter(sample.values()))), INFERENCE_SAMPLE_ROWS) if sample else 0
        return Resolution(
            schema=Schema(fields=tuple(inferred), primary_key=keys),
            used=list(columns),
            created=True,
            notes=[f"dataset {dataset}: schema {describe_inference(inferred, rows)}"],
        )
    if operation == "delete":
        _require(part, columns, list(schema.primary_key), "key")
        return Resolution(schema, [c for c in columns if c in schema.primary_key])
    resolution = Resolution(schema, [])
    unknown = [c for c in columns if not schema.has_field(c)]
    if unknown and schema_policy == "reject":
        positions = {c: columns.index(c) + 1 for c in unknown}
        raise InputError(
            f"part {part}: unknown column(s) {unknown} (at position "
            f"{', '.join(str(p) for p in positions.values())}); dataset {dataset} has fields "
            f"{schema.field_names}. Its schema policy is 'reject'; use 'ignore' to skip such "
            "columns or 'add' to add them",
            {"part": part, "unknown": unknown, "positions": positions},
        )
    if unknown and schema_policy == "add":
        added = infer_fields({c: sample[c] for c in unknown}, missing_values=("",))
        resolution.added = [replace(f, constraints=Constraints()) for f in added]
        resolution.schema = schema = schema.with_fields(resolution.added)
        resolution.notes.append(
            f"dataset {dataset}: added column(s) "
            + ", ".join(f"{f.name} ({f.type})" for f in resolution.added)
        )
    elif unknown:
        resolution.notes.append(f"part {part}: ignored unknown column(s) {unknown}")
    _require(part, columns, list(schema.primary_key), "key")
    if operation not in ("update", "upsert"):
        _require(part, columns, [f.name for f in schema.fields if f.required], "required")
    resolution.used = [c for c in columns if schema.has_field(c)]
    return resolution


def _require(part: str, columns: list[str], needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InputError(
            f"part {part}: {what} column(s) {missing} missing from the file (columns: {columns})",
            {"part": part, "missing": missing},
        )
