"""Table Schema parsing: what is accepted, what is refused and how the refusal reads."""

from __future__ import annotations

from typing import Any

import pytest

from mdhub.core.schema import Schema
from mdhub.errors import SchemaError


def test_a_full_descriptor_round_trips() -> None:
    descriptor: dict[str, Any] = {
        "fields": [
            {"name": "id", "type": "string", "constraints": {"pattern": "V[0-9]+"}},
            {"name": "qty", "type": "integer", "constraints": {"minimum": 0, "maximum": 10}},
            {"name": "ok", "type": "boolean", "trueValues": ["yes"], "falseValues": ["no"]},
            {"name": "price", "type": "number", "decimalChar": ",", "groupChar": "."},
            {"name": "kind", "type": "string", "constraints": {"enum": ["a", "b"]}},
            {"name": "tags", "type": "array"},
        ],
        "primaryKey": ["id"],
        "missingValues": ["", "NA"],
    }
    schema = Schema.from_descriptor(descriptor)
    assert schema.primary_key == ("id",)
    assert Schema.from_descriptor(schema.to_descriptor()) == schema
    assert schema.to_descriptor() == descriptor


def test_keys_stand_in_for_primary_key_and_must_agree() -> None:
    fields = {"fields": [{"name": "a"}, {"name": "b"}]}
    assert Schema.from_descriptor(fields, keys=["a", "b"]).primary_key == ("a", "b")
    with pytest.raises(SchemaError, match="differ from the schema's primaryKey"):
        Schema.from_descriptor({**fields, "primaryKey": ["a"]}, keys=["b"])


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "'fields' list"),
        ({"fields": [{"type": "string"}]}, "needs a string 'name'"),
        ({"fields": [{"name": "a", "type": "money"}]}, "unknown type 'money'"),
        ({"fields": [{"name": "a"}, {"name": "A"}]}, "appears twice"),
        ({"fields": [{"name": "a"}], "primaryKey": ["b"]}, "key field 'b' is not a field"),
        ({"fields": [{"name": "a", "type": "object"}], "primaryKey": "a"}, "cannot be of type"),
        ({"fields": [{"name": "a", "constraints": {"size": 1}}]}, "unknown constraint"),
        ({"fields": [{"name": "a", "constraints": {"pattern": "("}}]}, "not a valid regular"),
        ({"fields": [{"name": "a", "constraints": {"minimum": 1}}]}, "does not apply"),
        ({"fields": [{"name": "x" * 64}]}, "longer than 63 bytes"),
        ({"fields": [{"name": "_mdhub_line"}]}, "reserved"),
        ({"fields": [{"name": "a"}], "missingValues": "NA"}, "missingValues must be a list"),
    ],
)
def test_invalid_descriptors_are_refused_with_a_reason(descriptor: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Schema.from_descriptor(descriptor)


def test_hostile_field_names_are_plain_names() -> None:
    schema = Schema.from_descriptor({"fields": [{"name": 'a"; DROP TABLE x; --'}]})
    assert schema.field_names == ['a"; DROP TABLE x; --']
