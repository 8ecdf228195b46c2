"""Dataset schemas in the Frictionless Table Schema vocabulary: parsing, checking, serializing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from mdhub.errors import SchemaError

FIELD_TYPES = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "time",
    "year",
    "duration",
    "object",
    "array",
    "any",
)
SCHEMA_POLICIES = ("reject", "ignore", "add")
DEFAULT_TRUE_VALUES = ("true", "True", "TRUE", "1")
DEFAULT_FALSE_VALUES = ("false", "False", "FALSE", "0")
# Field names become SQL column names: PostgreSQL truncates identifiers past 63 bytes.
MAX_NAME_BYTES = 63
RESERVED_PREFIX = "_mdhub"
_NUMERIC_BOUNDS = {"integer", "number", "year"}
_ORDERED_BOUNDS = {"date", "datetime", "time"}
_LENGTH_TYPES = {"string", "duration", "any", "object", "array"}


@dataclass(frozen=True)
class Constraints:
    """Frictionless field constraints."""

    required: bool = False
    unique: bool = False
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None

    def to_descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("required", self.required or None),
            ("unique", self.unique or None),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("pattern", self.pattern),
            ("enum", list(self.enum) if self.enum is not None else None),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Field:
    """One column of a dataset."""

    name: str
    type: str = "string"
    format: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    true_values: tuple[str, ...] = DEFAULT_TRUE_VALUES
    false_values: tuple[str, ...] = DEFAULT_FALSE_VALUES
    decimal_char: str = "."
    group_char: str | None = None
    title: str | None = None
    description: str | None = None

    @property
    def required(self) -> bool:
        return self.constraints.required

    def to_descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.format and self.format != "default":
            out["format"] = self.format
        if self.title:
            out["title"] = self.title
        if self.description:
            out["description"] = self.description
        if self.type == "boolean":
            if self.true_values != DEFAULT_TRUE_VALUES:
                out["trueValues"] = list(self.true_values)
            if self.false_values != DEFAULT_FALSE_VALUES:
                out["falseValues"] = list(self.false_values)
        if self.type == "number":
            if self.decimal_char != ".":
                out["decimalChar"] = self.decimal_char
            if self.group_char:
                out["groupChar"] = self.group_char
        constraints = self.constraints.to_descriptor()
        if constraints:
            out["constraints"] = constraints
        return out


@dataclass(frozen=True)
class Schema:
    """A table schema: ordered fields, the key fields, and the strings that mean "missing"."""

    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ("",)

    def __post_init__(self) -> None:
        _check_schema(self)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def has_field(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def with_fields(self, extra: list[Field]) -> Schema:
        """This schema with fields appended (the `add` schema policy)."""
        return replace(self, fields=self.fields + tuple(extra))

    def to_descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fields": [f.to_descriptor() for f in self.fields]}
        if self.primary_key:
            out["primaryKey"] = list(self.primary_key)
        if self.missing_values != ("",):
            out["missingValues"] = list(self.missing_values)
        return out

    @classmethod
    def from_descriptor(cls, descriptor: Any, *, keys: list[str] | None = None) -> Schema:
        """Parse a Table Schema descriptor; `keys` (the dataset's keys) may stand in for
        `primaryKey` and must agree with it when both are given."""
        if not isinstance(descriptor, dict):
            raise SchemaError("a schema must be a JSON object with a 'fields' list")
        raw_fields = descriptor.get("fields")
        if not isinstance(raw_fields, list):
            raise SchemaError("a schema must have a 'fields' list", {"path": "fields"})
        fields = tuple(_parse_field(raw, i) for i, raw in enumerate(raw_fields))
        primary_key = _parse_key(descriptor.get("primaryKey"), "primaryKey")
        if keys:
            given = _parse_key(keys, "keys")
            if primary_key and primary_key != given:
                raise SchemaError(
                    f"keys {list(given)} differ from the schema's primaryKey {list(primary_key)}",
                    {"path": "keys"},
                )
            primary_key = given
        missing = descriptor.get("missingValues", [""])
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise SchemaError("missingValues must be a list of strings", {"path": "missingValues"})
        return cls(fields=fields, primary_key=primary_key, missing_values=tuple(missing))


def _parse_key(raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(k, str) for k in raw):
        return tuple(raw)
    raise SchemaError(f"{path} must be a field name or a list of field names", {"path": path})


def _parse_field(raw: Any, index: int) -> Field:
    path = f"fields[{index}]"
    if not isinstance(raw, dict):
        raise SchemaError(f"{path} must be an object", {"path": path})
    name = raw.get("name")
    if not isinstance(name, str):
        raise SchemaError(f"{path} needs a string 'name'", {"path": path})
    ftype = raw.get("type", "string")
    if ftype not in FIELD_TYPES:
        raise SchemaError(
            f"field '{name}': unknown type '{ftype}' (one of {', '.join(FIELD_TYPES)})",
            {"path": f"{path}.type"},
        )
    constraints = _parse_constraints(raw.get("constraints", {}), name, ftype, path)
    true_values = _string_list(raw.get("trueValues", DEFAULT_TRUE_VALUES), f"{path}.trueValues")
    false_values = _string_list(raw.get("falseValues", DEFAULT_FALSE_VALUES), f"{path}.falseValues")
    decimal_char = raw.get("decimalChar", ".")
    group_char = raw.get("groupChar")
    if not isinstance(decimal_char, str) or len(decimal_char) != 1:
        raise SchemaError(f"field '{name}': decimalChar must be one character", {"path": path})
    if group_char is not None and (not isinstance(group_char, str) or len(group_char) != 1):
        raise SchemaError(f"field '{name}': groupChar must be one character", {"path": path})
    fmt = raw.get("format")
    if fmt is not None and not isinstance(fmt, str):
        raise SchemaError(f"field '{name}': format must be a string", {"path": f"{path}.format"})
    return Field(
        name=name,
        type=ftype,
        format=fmt,
        constraints=constraints,
        true_values=true_values,
        false_values=false_values,
        decimal_char=decimal_char,
        group_char=group_char,
        title=raw.get("title") if isinstance(raw.get("title"), str) else None,
        description=raw.get("description") if isinstance(raw.get("description"), str) else None,
    )


def _string_list(raw: Any, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
        raise SchemaError(f"{path} must be a list of strings", {"path": path})
    return tuple(raw)


def _parse_constraints(raw: Any, name: str, ftype: str, path: str) -> Constraints:
    path = f"{path}.constraints"
    if not isinstance(raw, dict):
        raise SchemaError(f"field '{name}': constraints must be an object", {"path": path})
    known = {
        "required",
        "unique",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "enum",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SchemaError(
            f"field '{name}': unknown constraint(s) {unknown} (known: {sorted(known)})",
            {"path": path},
        )
    for flag in ("required", "unique"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise SchemaError(f"field '{name}': {flag} must be true or false", {"path": path})
    for bound in ("minimum", "maximum"):
        if bound in raw:
            value = raw[bound]
            if ftype in _NUMERIC_BOUNDS:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            elif ftype in _ORDERED_BOUNDS:
                ok = isinstance(value, str)
            else:
                ok = False
            if not ok:
                raise SchemaError(
                    f"field '{name}': {bound} does not apply to type '{ftype}' as given",
                    {"path": f"{path}.{bound}"},
                )
    for length in ("minLength", "maxLength"):
        if length in raw:
            if ftype not in _LENGTH_TYPES:
                raise SchemaError(
                    f"field '{name}': {length} does not apply to type '{ftype}'",
                    {"path": f"{path}.{length}"},
                )
            value = raw[length]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SchemaError(
                    f"field '{name}': {length} must be a non-negative integer",
                    {"path": f"{path}.{length}"},
                )
    pattern = raw.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise SchemaError(f"field '{name}': pattern must be a string", {"path": path})
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SchemaError(
                f"field '{name}': pattern is not a valid regular expression: {exc}",
                {"path": f"{path}.pattern"},
            ) from None
    enum = raw.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise SchemaError(f"field '{name}': enum must be a non-empty list", {"path": path})
    return Constraints(
        required=bool(raw.get("required", False)),
        unique=bool(raw.get("unique", False)),
        minimum=raw.get("minimum"),
        maximum=raw.get("maximum"),
        min_length=raw.get("minLength"),
        max_length=raw.get("maxLength"),
        pattern=pattern,
        enum=tuple(enum) if enum is not None else None,
    )


def check_field_name(name: str) -> None:
    """A field name must be usable as a column name on every supported database."""
    if not name or not name.strip():
        raise SchemaError("a field name must not be empty")
    if "\x00" in name:
        raise SchemaError(f"field name {name!r} contains a NUL character")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise SchemaError(f"field name '{name[:40]}…' is longer than {MAX_NAME_BYTES} bytes")
    if name.lower().startswith(RESERVED_PREFIX):
        raise SchemaError(
            f"field name '{name}': names starting with '{RESERVED_PREFIX}' are reserved"
        )


def _check_schema(schema: Schema) -> None:
    seen: set[str] = set()
    for f in schema.fields:
        check_field_name(f.name)
        if f.name.lower() in seen:
            raise SchemaError(f"field '{f.name}' appears twice (names are case-insensitive)")
        seen.add(f.name.lower())
    for key in schema.primary_key:
        if key not in seen and key.lower() not in seen:
            raise SchemaError(f"key field '{key}' is not a field of the schema", {"path": "keys"})
        if not schema.has_field(key):
            raise SchemaError(f"key field '{key}' must match a field name exactly")
        if schema.field(key).type in ("object", "array"):
            raise SchemaError(f"key field '{key}' cannot be of type '{schema.field(key).type}'")
    if len(set(schema.primary_key)) != len(schema.primary_key):
        raise SchemaError("a key field is listed twice")
