"""JSON Schema -> Gemini Schema subset (PITFALLS 14)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workers.providers.gemini.conftest import as_json
from workers.providers.base import ConversionError
from workers.providers.gemini.tool_schema import to_gemini_schema

PARAM = "tools[0].function.parameters"


def convert(schema: dict[str, Any], keep_order: bool = False) -> Any:
    result = to_gemini_schema(schema, PARAM, keep_order=keep_order)
    return None if result is None else as_json(result)


def refused(schema: Any) -> ConversionError:
    with pytest.raises(ConversionError) as info:
        to_gemini_schema(schema, PARAM)
    assert info.value.status == 400
    assert info.value.error.param == PARAM
    return info.value


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def test_types_become_upper_case_and_keys_stay_in_the_subset() -> None:
    schema = {
        "type": "object",
        "title": "Weather",
        "description": "Where",
        "properties": {
            "city": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[A-Z]"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14, "format": "int32"},
            "units": {"type": "string", "enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "hourly": {"type": "boolean"},
            "ratio": {"type": "number"},
        },
        "required": ["city"],
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "title": "Weather",
        "description": "Where",
        "properties": {
            "city": {"type": "STRING", "pattern": "^[A-Z]", "minLength": 1, "maxLength": 80},
            "days": {"type": "INTEGER", "format": "int32", "minimum": 1, "maximum": 14},
            "units": {"type": "STRING", "enum": ["c", "f"]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1, "maxItems": 3},
            "hourly": {"type": "BOOLEAN"},
            "ratio": {"type": "NUMBER"},
        },
        "required": ["city"],
    }


# PITFALLS 14
def test_schema_additional_properties_and_default_are_stripped() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "limit": {"type": "integer", "default": 10, "examples": [5], "exclusiveMinimum": 0},
            "meta": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {"limit": {"type": "INTEGER"}, "meta": {"type": "OBJECT"}},
    }


# PITFALLS 14
def test_any_of_with_null_becomes_nullable() -> None:
    schema = obj(
        note={
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "default": None,
            "description": "A note",
        }
    )
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {"note": {"type": "STRING", "description": "A note", "nullable": True}},
    }


def test_type_list_with_null_becomes_nullable() -> None:
    assert convert(obj(n={"type": ["integer", "null"]})) == {
        "type": "OBJECT",
        "properties": {"n": {"type": "INTEGER", "nullable": True}},
    }


def test_openapi_style_nullable_is_kept() -> None:
    assert convert(obj(n={"type": "string", "nullable": True})) == {
        "type": "OBJECT",
        "properties": {"n": {"type": "STRING", "nullable": True}},
    }


def test_several_types_become_any_of() -> None:
    assert convert(obj(v={"type": ["string", "number", "null"], "description": "V"})) == {
        "type": "OBJECT",
        "properties": {
            "v": {
                "description": "V",
                "nullable": True,
                "anyOf": [{"type": "STRING"}, {"type": "NUMBER"}],
            }
        },
    }


def test_one_of_becomes_any_of_and_keeps_null_as_nullable() -> None:
    schema = obj(
        target={
            "oneOf": [
                {"type": "string", "description": "a name"},
                obj(id={"type": "integer"}),
                {"type": "null"},
            ]
        }
    )
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {
            "target": {
                "nullable": True,
                "anyOf": [
                    {"type": "STRING", "description": "a name"},
                    {"type": "OBJECT", "properties": {"id": {"type": "INTEGER"}}},
                ],
            }
        },
    }


# PITFALLS 14
def test_local_refs_are_inlined_and_sibling_description_wins() -> None:
    schema = {
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/Address", "description": "Home address"},
            "work": {"$ref": "#/definitions/Address"},
        },
        "$defs": {"Address": obj(street={"type": "string"})},
        "definitions": {"Address": {"description": "An address", **obj(zip={"type": "string"})}},
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {
            "home": {
                "type": "OBJECT",
                "description": "Home address",
                "properties": {"street": {"type": "STRING"}},
            },
            "work": {
                "type": "OBJECT",
                "description": "An address",
                "properties": {"zip": {"type": "STRING"}},
            },
        },
    }


def test_a_ref_used_twice_is_inlined_twice() -> None:
    schema = {
        **obj(a={"$ref": "#/$defs/N"}, b={"items": {"$ref": "#/$defs/N"}}),
        "$defs": {"N": {"type": "number"}},
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {
            "a": {"type": "NUMBER"},
            "b": {"type": "ARRAY", "items": {"type": "NUMBER"}},
        },
    }


# PITFALLS 14
def test_recursive_ref_is_refused_naming_the_tool() -> None:
    schema = {
        **obj(root={"$ref": "#/$defs/Node"}),
        "$defs": {"Node": obj(children={"type": "array", "items": {"$ref": "#/$defs/Node"}})},
    }
    err = refused(schema)
    assert err.error.message == (
        "'tools[0].function.parameters' cannot be converted to the schema subset Gemini accepts: "
        "'$ref' '#/$defs/Node' at 'properties.root.properties.children.items' is recursive."
    )


def test_remote_and_dangling_refs_are_refused() -> None:
    assert "is not a local reference" in refused(obj(a={"$ref": "https://x/s.json"})).error.message
    assert "does not resolve" in refused(obj(a={"$ref": "#/$defs/Missing"})).error.message


# PITFALLS 14
def test_tool_without_properties_has_no_parameters() -> None:
    assert convert({"type": "object", "properties": {}}) is None
    assert convert({"type": "object"}) is None
    assert convert({"type": "object", "properties": {}, "additionalProperties": False}) is None


def test_const_becomes_a_one_value_enum() -> None:
    assert convert(obj(kind={"const": "circle"})) == {
        "type": "OBJECT",
        "properties": {"kind": {"type": "STRING", "enum": ["circle"]}},
    }


def test_non_string_enum_moves_to_the_description() -> None:
    assert convert(obj(level={"type": "integer", "enum": [1, 2, 3], "description": "Level."})) == {
        "type": "OBJECT",
        "properties": {
            "level": {"type": "INTEGER", "description": "Level. Allowed values: 1, 2, 3."}
        },
    }


def test_enum_with_null_is_nullable() -> None:
    assert convert(obj(mode={"enum": ["a", "b", None]})) == {
        "type": "OBJECT",
        "properties": {"mode": {"type": "STRING", "nullable": True, "enum": ["a", "b"]}},
    }


def test_missing_types_are_inferred() -> None:
    schema = {
        "properties": {
            "list": {"items": {"enum": ["x"]}},
            "inner": {"properties": {"q": {"type": "string"}}},
        }
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {
            "list": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["x"]}},
            "inner": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}},
        },
    }


def test_all_of_is_merged() -> None:
    schema = {
        "allOf": [
            {"$ref": "#/$defs/Base"},
            {"properties": {"extra": {"type": "boolean"}}, "required": ["extra"]},
        ],
        "$defs": {"Base": {"type": "object", **obj(id={"type": "string"}), "required": ["id"]}},
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {"id": {"type": "STRING"}, "extra": {"type": "BOOLEAN"}},
        "required": ["id", "extra"],
    }


def test_conflicting_all_of_is_refused() -> None:
    err = refused(obj(x={"allOf": [{"type": "string"}, {"type": "integer"}]}))
    assert "'allOf' at 'properties.x' has conflicting 'type' values" in err.error.message


def test_required_names_must_be_declared_properties() -> None:
    schema = {**obj(a={"type": "string"}), "required": ["a", "ghost"]}
    assert convert(schema)["required"] == ["a"]


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (obj(x={"not": {"type": "string"}}), "'not' at 'properties.x' is not supported"),
        (
            obj(x={"type": "string", "if": {}, "then": {}}),
            "'if' at 'properties.x' is not supported",
        ),
        (obj(x={"type": "array", "prefixItems": [{"type": "string"}]}), "'prefixItems'"),
        (obj(x={"type": "array", "items": [{"type": "string"}]}), "tuple 'items'"),
        (obj(x={}), "the schema at 'properties.x' has no 'type' (Gemini needs one)"),
        (obj(x={"type": "date"}), "type 'date' at 'properties.x' is not a JSON Schema type"),
        (obj(x=True), "the schema at 'properties.x' is not an object"),
    ],
)
def test_what_gemini_cannot_express_is_refused_with_its_place(schema: Any, fragment: str) -> None:
    assert fragment in refused(schema).error.message


def test_a_schema_that_is_not_an_object_is_refused() -> None:
    assert refused(["type", "object"]).error.message == (
        "'tools[0].function.parameters' must be a JSON Schema object."
    )


def test_keep_order_adds_property_ordering_at_every_level() -> None:
    schema = obj(zeta={"type": "string"}, alpha=obj(y={"type": "string"}, b={"type": "string"}))
    assert convert(schema, keep_order=True) == {
        "type": "OBJECT",
        "properties": {
            "zeta": {"type": "STRING"},
            "alpha": {
                "type": "OBJECT",
                "properties": {"y": {"type": "STRING"}, "b": {"type": "STRING"}},
                "propertyOrdering": ["y", "b"],
            },
        },
        "propertyOrdering": ["zeta", "alpha"],
    }
