"""A filter in a subset of the MongoDB query language, compiled to parameterized SQL.

Field conditions take `$eq $ne $gt $gte $lt $lte $in $nin $exists $regex` (with `$options`
of `i`, `m`, `s`) and `$not`; `$and` and `$or` combine filters; a bare value means `$eq`.
A dotted path reaches into an `object` field. Where SQL and MongoDB differ, MongoDB's meaning
wins: a missing (NULL) value matches `null`, `$ne` and `$nin`, never an order comparison; through
a path, a comparison matches only JSON values of the compared value's type. Text compares by
code point on both databases. Names enter the SQL quoted, values only as bound parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mdhub.core import values
from mdhub.core.schema import Field, Schema
from mdhub.db.dialect import text_quote
from mdhub.errors import InvalidQuery

COMPARISONS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
FIELD_OPERATORS = frozenset({*COMPARISONS, "$ne", "$in", "$nin", "$exists", "$regex", "$not"})
LOGICAL_OPERATORS = frozenset({"$and", "$or"})
REGEX_OPTIONS = "ims"
NEVER = "(1 = 0)"
ALWAYS = "(1 = 1)"
# PostgreSQL's embedded options giving MongoDB's (and Python's) meaning of `.`, `^` and `$`:
# by default `.` stops at a newline and `^`/`$` match only at the ends of the text.
_PG_MODES = {"": "p", "m": "n", "s": "s", "ms": "w"}
_NUMBER_TYPES = {"postgresql": "('number')", "sqlite": "('integer', 'real')"}
_TEXT_TYPE = {"postgresql": "'string'", "sqlite": "'text'"}


def compile_filter(query: Any, schema: Schema, kind: str) -> tuple[str, dict[str, Any]]:
    """The filter as an SQL condition and its bound parameters; InvalidQuery names what is
    wrong and where (`filter.price.$gt`)."""
    compiler = _Compiler(schema, kind)
    return compiler.document(query, "filter"), compiler.params


def text_order(kind: str) -> str:
    """What makes a text comparison or sort order by code point on this database."""
    return ' COLLATE "C"' if kind == "postgresql" else ""


@lru_cache(maxsize=256)
def python_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def sqlite_regexp(pattern: str, value: Any) -> bool | None:
    """SQLite's `value REGEXP pattern` (pattern with Python inline flags)."""
    if value is None:
        return None
    return python_regex(pattern).search(str(value)) is not None


@dataclass
class _Compiler:
    schema: Schema
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sqlite(self) -> bool:
        return self.kind == "sqlite"

    def bind(self, value: Any) -> str:
        name = f"q{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def document(self, query: Any, at: str) -> str:
        if not isinstance(query, dict):
            raise InvalidQuery(f"{at} must be an object", {"at": at})
        parts = []
        for name, condition in query.items():
            where = f"{at}.{name}"
            if name in LOGICAL_OPERATORS:
                parts.append(self.logical(name, condition, where))
            elif name.startswith("$"):
                raise _unknown_operator(name, where)
            else:
                parts.append(self.condition(name, condition, where))
        return _all(parts)

    def logical(self, operator: str, clauses: Any, at: str) -> str:
        if not isinstance(clauses, list) or not clauses:
            raise InvalidQuery(f"{at} must be a non-empty array of filters", {"at": at})
        sqls = [self.document(clause, f"{at}[{i}]") for i, clause in enumerate(clauses)]
        return "(" + (" AND " if operator == "$and" else " OR ").join(sqls) + ")"

    def condition(self, name: str, condition: Any, at: str) -> str:
        target = self.target(name, at)
        if _is_operators(condition, at):
            return self.operators(target, condition, at)
        return target.compare("$eq", condition, at)

    def operators(self, target: _Target, operators: dict[str, Any], at: str) -> str:
        for name in operators:
            if name not in FIELD_OPERATORS and name != "$options":
                raise _unknown_operator(name, f"{at}.{name}")
        if "$options" in operators and "$regex" not in operators:
            raise InvalidQuery(f"{at}.$options needs a $regex beside it", {"at": at})
        parts = []
        for name, value in operators.items():
            where = f"{at}.{name}"
            if name == "$options":
                continue
            if name == "$regex":
                parts.append(target.regex(value, operators.get("$options", ""), where))
            elif name == "$not":
                if not isinstance(value, dict) or not _is_operators(value, where):
                    raise InvalidQuery(f"{where} takes an object of operators", {"at": where})
                parts.append(_negate(self.operators(target, value, where)))
            elif name == "$exists":
                if not isinstance(value, bool):
                    raise InvalidQuery(f"{where} takes true or false", {"at": where})
                parts.append(target.exists(value))
            elif name == "$ne":
                parts.append(_negate(target.compare("$eq", value, where)))
            elif name in ("$in", "$nin"):
                if not isinstance(value, list):
                    raise InvalidQuery(f"{where} takes an array of values", {"at": where})
                found = target.any_of(value, where)
                parts.append(found if name == "$in" else _negate(found))
            else:
                parts.append(target.compare(name, value, where))
        return _all(parts)

    def target(self, name: str, at: str) -> _Target:
        if self.schema.has_field(name):
            return _Column(self, self.schema.field(name))
        segments = name.split(".")
        for cut in range(len(segments) - 1, 0, -1):
            prefix = ".".join(segments[:cut])
            if self.schema.has_field(prefix):
                column = self.schema.field(prefix)
                if column.type != "object":
                    raise InvalidQuery(
                        f"{at}: field '{prefix}' is {column.type}; only object fields have "
                        "paths into them",
                        {"at": at, "field": prefix},
                    )
                path = segments[cut:]
                if any(not s or s.isdigit() for s in path):
                    raise InvalidQuery(
                        f"{at}: a path into an object names its keys (no empty parts, no "
                        "array positions)",
                        {"at": at},
                    )
                return _Path(self, column, tuple(path))
        raise InvalidQuery(
            f"{at}: unknown field '{name}'",
            {"at": at, "field": name, "fields": self.schema.field_names},
        )


class _Target:
    """Where a condition looks: a column, or a path into an object column."""

    def __init__(self, compiler: _Compiler) -> None:
        self.compiler = compiler
        self.kind = compiler.kind

    def compare(self, operator: str, value: Any, at: str) -> str:
        raise NotImplementedError

    def exists(self, present: bool) -> str:
        raise NotImplementedError

    def regex(self, pattern: Any, options: Any, at: str) -> str:
        raise NotImplementedError

    def any_of(self, choices: list[Any], at: str) -> str:
        if not choices:
            return NEVER
        return "(" + " OR ".join(self.compare("$eq", v, f"{at}[]") for v in choices) + ")"

    def compare_null(self, operator: str) -> str:
        # MongoDB: null equals null (so $gte/$lte match it too) and orders against nothing.
        return self.exists(False) if operator in ("$eq", "$gte", "$lte") else NEVER

    def pattern(self, pattern: Any, options: Any, at: str) -> str:
        if not isinstance(pattern, str):
            raise InvalidQuery(f"{at} takes a pattern as text", {"at": at})
        if not isinstance(options, str) or set(options) - set(REGEX_OPTIONS):
            raise InvalidQuery(
                f"{at}: $options may hold only {', '.join(REGEX_OPTIONS)}", {"at": at}
            )
        try:
            python_regex(pattern)
        except re.error as exc:
            raise InvalidQuery(f"{at}: not a valid pattern: {exc}", {"at": at}) from None
        flags = "".join(sorted(set(options)))
        if self.kind == "sqlite":
            return self.compiler.bind(f"(?{flags}){pattern}" if flags else pattern)
        mode = _PG_MODES[flags.replace("i", "")] + ("i" if "i" in flags else "")
        return self.compiler.bind(f"(?{mode}){pattern}")

    def regex_sql(self, text: str, pattern: str) -> str:
        return f"{text} REGEXP {pattern}" if self.kind == "sqlite" else f"{text} ~ {pattern}"


class _Column(_Target):
    def __init__(self, compiler: _Compiler, column: Field) -> None:
        super().__init__(compiler)
        self.field = column
        self.sql = text_quote(column.name)

    def compare(self, operator: str, value: Any, at: str) -> str:
        if value is None:
            return self.compare_null(operator)
        bound = self.compiler.bind(self.value(value, at))
        collate = text_order(self.kind) if self.field.type in values.TEXT_TYPES else ""
        if operator == "$eq":
            collate = ""
        return f"{self.sql}{collate} {COMPARISONS[operator]} {bound}"

    def any_of(self, choices: list[Any], at: str) -> str:
        present = [v for v in choices if v is not None]
        parts = [self.exists(False)] if len(present) < len(choices) else []
        if present:
            bound = ", ".join(self.compiler.bind(self.value(v, f"{at}[]")) for v in present)
            parts.append(f"{self.sql} IN ({bound})")
        return "(" + " OR ".join(parts) + ")" if parts else NEVER

    def exists(self, present: bool) -> str:
        return f"{self.sql} IS {'NOT ' if present else ''}NULL"

    def regex(self, pattern: Any, options: Any, at: str) -> str:
        if self.field.type not in values.TEXT_TYPES:
            raise InvalidQuery(
                f"{at}: field '{self.field.name}' is {self.field.type}; $regex matches text",
                {"at": at, "field": self.field.name},
            )
        return self.regex_sql(self.sql, self.pattern(pattern, options, at))

    def value(self, value: Any, at: str) -> Any:
        column = self.field
        if column.type in values.JSON_TYPES:
            raise InvalidQuery(
                f"{at}: field '{column.name}' is {column.type}; compare the values inside "
                "it with a dotted path, or test it with $exists",
                {"at": at, "field": column.name},
            )
        try:
            return values.to_store(values.from_json(column, value), sqlite=self.compiler.sqlite)
        except ValueError:
            raise InvalidQuery(
                f"{at}: field '{column.name}' is {column.type}; "
                f"{json.dumps(value)} is not a valid {column.type}",
                {"at": at, "field": column.name, "type": column.type},
            ) from None


class _Path(_Target):
    def __init__(self, compiler: _Compiler, column: Field, path: tuple[str, ...]) -> None:
        super().__init__(compiler)
        name = text_quote(column.name)
        if compiler.sqlite:
            where = compiler.bind("$" + "".join("." + json.dumps(key) for key in path))
            self.json = f"json_extract({name}, {where})"
            self.text = self.json
            self.type = f"json_type({name}, {where})"
        else:
            keys = ", ".join(compiler.bind(key) for key in path)
            self.json = f"jsonb_extract_path({name}, {keys})"
            self.text = f"jsonb_extract_path_text({name}, {keys})"
            self.type = f"jsonb_typeof({self.json})"

    def compare(self, operator: str, value: Any, at: str) -> str:
        if value is None:
            return self.compare_null(operator)
        sign = COMPARISONS[operator]
        if isinstance(value, bool):
            if operator != "$eq":
                raise InvalidQuery(f"{at}: true and false can only be matched", {"at": at})
            if self.kind == "sqlite":
                return f"{self.type} = '{'true' if value else 'false'}'"
            return f"{self.json} = CAST({self.compiler.bind(json.dumps(value))} AS jsonb)"
        if isinstance(value, int | float):
            if self.kind == "sqlite":
                bound = self.compiler.bind(value)
            else:
                bound = f"CAST({self.compiler.bind(json.dumps(value))} AS jsonb)"
            return (
                f"CASE WHEN {self.type} IN {_NUMBER_TYPES[self.kind]} "
                f"THEN {self.json} {sign} {bound} END"
            )
        if isinstance(value, str):
            bound = self.compiler.bind(value)
            return (
                f"CASE WHEN {self.type} = {_TEXT_TYPE[self.kind]} "
                f"THEN {self.text}{text_order(self.kind)} {sign} {bound} END"
            )
        raise InvalidQuery(
            f"{at}: objects and arrays inside an object cannot be compared; compare their "
            "values with a longer path",
            {"at": at},
        )

    def exists(self, present: bool) -> str:
        # A JSON null is present; only a missing key (or a NULL column) is not.
        return f"{self.type} IS {'NOT ' if present else ''}NULL"

    def regex(self, pattern: Any, options: Any, at: str) -> str:
        matched = self.regex_sql(self.text, self.pattern(pattern, options, at))
        return f"CASE WHEN {self.type} = {_TEXT_TYPE[self.kind]} THEN {matched} END"

    def compare_null(self, operator: str) -> str:
        if operator in ("$eq", "$gte", "$lte"):
            return f"COALESCE({self.type}, 'null') = 'null'"
        return NEVER


def _is_operators(condition: Any, at: str) -> bool:
    """Whether a condition is an object of operators (not a value to equal)."""
    if not isinstance(condition, dict) or not condition:
        return False
    marked = [key.startswith("$") for key in condition]
    if all(marked):
        return True
    if any(marked):
        raise InvalidQuery(f"{at} mixes operators and field names", {"at": at})
    return False


def _negate(condition: str) -> str:
    # Two-valued: a condition that is unknown (NULL) for a row counts as not matching it.
    return f"({condition}) IS NOT TRUE"


def _all(parts: list[str]) -> str:
    return "(" + " AND ".join(parts) + ")" if parts else ALWAYS


def _unknown_operator(name: str, at: str) -> InvalidQuery:
    known = sorted(FIELD_OPERATORS | LOGICAL_OPERATORS | {"$options"})
    return InvalidQuery(
        f"{at}: unknown or unsupported operator '{name}'",
        {"at": at, "operator": name, "supported": known},
    )
