"""JSON Schema (tool `parameters`, `response_format` schemas) -> Gemini's `Schema` subset.

Gemini's `FunctionDeclaration.parameters` and `GenerationConfig.responseSchema` take an
OpenAPI 3.0 subset (https://ai.google.dev/api/caching#Schema): `type` (upper case),
`format`, `title`, `description`, `nullable`, `enum` (strings only), `items`,
`properties`, `required`, `propertyOrdering`, `anyOf`, and min/max length, items,
properties and value, `pattern`. Unknown keys are rejected by the API, so:

- kept: the keys above;
- rewritten: `type: [T, "null"]` and `anyOf`/`oneOf` with a `{"type": "null"}` branch ->
  `nullable: true` (an OpenAPI-style `nullable: true` is kept); several types -> `anyOf`;
  `oneOf` -> `anyOf`; `const` -> one-value `enum`; non-string enums -> the allowed values
  listed in `description` (Gemini's enum is string-only); local `$ref` (`#/$defs/...`, `#/definitions/...`, any `#/` pointer) ->
  inlined; `allOf` -> merged; a missing `type` inferred from `properties`/`items`/`enum`;
- dropped (annotations and checks Gemini has no field for; the model just sees a looser
  schema): `$schema`, `$id`, `$defs`, `$comment`, `additionalProperties`, `default`,
  `examples`, `readOnly`, `exclusiveMinimum`, `multipleOf`, `uniqueItems`, ... ;
- outside the subset (OutsideSubsetError, naming the parameter and the place inside the
  schema): recursive or non-local `$ref`, `not`, `if`/`then`/`else`, `prefixItems` and
  tuple `items`, `$dynamicRef`, a schema with no type that cannot be inferred (e.g. `{}`,
  Pydantic's `Any`, `items: {}`), a `true` sub-schema. Tools and response formats then
  send the caller's schema as plain JSON Schema (`parametersJsonSchema`,
  `responseJsonSchema`), which Gemini also takes.
"""

from __future__ import annotations

import json
from typing import Any

from msgspec import UNSET

from workers.providers.base import ConversionError
from workers.providers.gemini.schema import Schema

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}
_REFUSED = ("not", "if", "then", "else", "prefixItems", "$dynamicRef", "$recursiveRef")
_MAX_DEPTH = 64


class _Unsupported(Exception):
    """A schema construct Gemini cannot express; the message says what and where."""


class OutsideSubsetError(ConversionError):
    """The schema is JSON Schema Gemini's `Schema` subset cannot express (a 400 if refused).

    Callers that can send plain JSON Schema instead (`parametersJsonSchema`,
    `responseJsonSchema`) catch it and do so.
    """


def to_gemini_schema(schema: Any, param: str, *, keep_order: bool = False) -> Schema | None:
    """The Gemini Schema for a JSON Schema; None for an object schema without properties.

    `keep_order` adds `propertyOrdering` (Gemini otherwise orders generated JSON keys
    alphabetically, OpenAI keeps the schema's order). Raises ConversionError naming
    `param` when the schema cannot be expressed.
    """
    if not isinstance(schema, dict):
        raise ConversionError(f"'{param}' must be a JSON Schema object.", param)
    try:
        result = _Converter(schema, keep_order).convert(schema, "", (), 0)
    except _Unsupported as ex:
        raise OutsideSubsetError(
            f"'{param}' cannot be converted to the schema subset Gemini accepts: {ex}.", param
        ) from None
    if result.type == "OBJECT" and not result.properties and result.nullable is not True:
        return None
    return result


def _at(where: str) -> str:
    return f"at '{where}'" if where else "at the root"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class _Converter:
    """One conversion: the root document (for `$ref`) and the ordering option."""

    def __init__(self, root: dict[str, Any], keep_order: bool) -> None:
        self._root = root
        self._keep_order = keep_order

    def convert(self, node: Any, where: str, refs: tuple[str, ...], depth: int) -> Schema:
        """Convert one (sub)schema; `refs` are the references being expanded above it."""
        if depth > _MAX_DEPTH:
            raise _Unsupported(f"the schema is nested too deeply {_at(where)}")
        if not isinstance(node, dict):
            raise _Unsupported(f"the schema {_at(where)} is not an object")
        node, refs = self._deref(node, where, refs)
        node, refs = self._merge_all_of(node, where, refs)
        for key in _REFUSED:
            if key in node:
                raise _Unsupported(f"'{key}' {_at(where)} is not supported")
        variants = node.get("anyOf", node.get("oneOf"))
        if variants is not None:
            return self._union(node, variants, where, refs, depth)
        types = _types_of(node, where)
        nullable = "null" in types or None in _enum_values(node) or node.get("nullable") is True
        concrete = [t for t in types if t != "null"]
        if len(concrete) == 1:
            schema = self._typed(node, concrete[0], where, refs, depth)
        else:
            bare = {k: v for k, v in node.items() if k not in ("title", "description")}
            schema = Schema(
                type=UNSET if concrete else "NULL",
                any_of=[self._typed(bare, t, where, refs, depth) for t in concrete] or UNSET,
            )
            _annotate(schema, node)
        if nullable:
            schema.nullable = True
        return schema

    def _typed(
        self, node: dict[str, Any], kind: str, where: str, refs: tuple[str, ...], depth: int
    ) -> Schema:
        schema = Schema(type=_TYPES[kind])
        _annotate(schema, node)
        values = [v for v in _enum_values(node) if v is not None]
        if values and kind == "string" and all(isinstance(v, str) for v in values):
            schema.enum = values
        elif values:
            # NOTE: Gemini's enum is string-only; the model still learns the choices.
            allowed = "Allowed values: " + ", ".join(json.dumps(v) for v in values) + "."
            described = schema.description
            schema.description = f"{described} {allowed}" if isinstance(described, str) else allowed
        if kind == "object":
            self._object(schema, node, where, refs, depth)
        elif kind == "array":
            items = node.get("items")
            if isinstance(items, dict):
                schema.items = self.convert(items, _join(where, "items"), refs, depth + 1)
            elif isinstance(items, list):
                raise _Unsupported(f"tuple 'items' {_at(where)} is not supported")
            schema.min_items = _int(node, "minItems")
            schema.max_items = _int(node, "maxItems")
        elif kind == "string":
            schema.format = _str(node, "format")
            schema.pattern = _str(node, "pattern")
            schema.min_length = _int(node, "minLength")
            schema.max_length = _int(node, "maxLength")
        elif kind in ("number", "integer"):
            schema.format = _str(node, "format")
            schema.minimum = _number(node, "minimum")
            schema.maximum = _number(node, "maximum")
        return schema

    def _object(
        self, schema: Schema, node: dict[str, Any], where: str, refs: tuple[str, ...], depth: int
    ) -> None:
        props = node.get("properties")
        if isinstance(props, dict) and props:
            schema.properties = {
                name: self.convert(sub, _join(where, f"properties.{name}"), refs, depth + 1)
                for name, sub in props.items()
            }
            required = node.get("required")
            if isinstance(required, list):
                kept = [r for r in required if isinstance(r, str) and r in props]
                if kept:
                    schema.required = kept
            if self._keep_order:
                schema.property_ordering = list(props)
        schema.min_properties = _int(node, "minProperties")
        schema.max_properties = _int(node, "maxProperties")

    def _union(
        self,
        node: dict[str, Any],
        variants: Any,
        where: str,
        refs: tuple[str, ...],
        depth: int,
    ) -> Schema:
        key = "anyOf" if "anyOf" in node else "oneOf"
        if not isinstance(variants, list) or not variants:
            raise _Unsupported(f"'{key}' {_at(where)} must be a non-empty list")
        kept = [(i, v) for i, v in enumerate(variants) if not _is_null_schema(v)]
        nullable = len(kept) < len(variants)
        if len(kept) == 1:
            i, only = kept[0]
            if isinstance(only, dict):
                # NOTE: the union's own title/description win over the branch's.
                only = {**only, **{k: node[k] for k in ("title", "description") if k in node}}
            schema = self.convert(only, _join(where, f"{key}[{i}]"), refs, depth + 1)
        else:
            schema = Schema(
                type=UNSET if kept else "NULL",
                any_of=[
                    self.convert(v, _join(where, f"{key}[{i}]"), refs, depth + 1) for i, v in kept
                ]
                or UNSET,
            )
            _annotate(schema, node)
        if nullable:
            schema.nullable = True
        return schema

    def _deref(
        self, node: dict[str, Any], where: str, refs: tuple[str, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        while "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise _Unsupported(f"'$ref' {ref!r} {_at(where)} is not a local reference")
            if ref in refs:
                raise _Unsupported(f"'$ref' {ref!r} {_at(where)} is recursive")
            target = self._lookup(ref)
            if not isinstance(target, dict):
                raise _Unsupported(f"'$ref' {ref!r} {_at(where)} does not resolve to a schema")
            refs = (*refs, ref)
            # NOTE: keywords beside a $ref (often `description`) win over the target's.
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node, refs

    def _lookup(self, ref: str) -> Any:
        current: Any = self._root
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(current, dict) and token in current:
                current = current[token]
            elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
                current = current[int(token)]
            else:
                return None
        return current

    def _merge_all_of(
        self, node: dict[str, Any], where: str, refs: tuple[str, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        parts = node.get("allOf")
        if parts is None:
            return node, refs
        if not isinstance(parts, list):
            raise _Unsupported(f"'allOf' {_at(where)} must be a list")
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for i, part in enumerate(parts):
            if not isinstance(part, dict):
                raise _Unsupported(f"'allOf[{i}]' {_at(where)} is not an object")
            part, refs = self._deref(part, where, refs)
            part, refs = self._merge_all_of(part, where, refs)
            for key, value in part.items():
                if key == "properties" and isinstance(value, dict):
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required" and isinstance(value, list):
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                elif key in ("title", "description") and key in merged:
                    continue
                elif key in merged and merged[key] != value:
                    raise _Unsupported(f"'allOf' {_at(where)} has conflicting '{key}' values")
                else:
                    merged[key] = value
        return merged, refs


def _types_of(node: dict[str, Any], where: str) -> list[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        names = [declared]
    elif isinstance(declared, list) and declared and all(isinstance(t, str) for t in declared):
        names = list(dict.fromkeys(declared))
    elif declared is None:
        names = _inferred_types(node, where)
    else:
        raise _Unsupported(f"'type' {_at(where)} must be a string or a list of strings")
    for name in names:
        if name not in _TYPES:
            raise _Unsupported(f"type {name!r} {_at(where)} is not a JSON Schema type")
    return names


def _inferred_types(node: dict[str, Any], where: str) -> list[str]:
    if "properties" in node or "additionalProperties" in node:
        return ["object"]
    if "items" in node:
        return ["array"]
    values = _enum_values(node)
    if values:
        kinds: list[str] = []
        for value in values:
            kinds.append(_kind_of(value, where))
        return list(dict.fromkeys(kinds))
    raise _Unsupported(f"the schema {_at(where)} has no 'type' (Gemini needs one)")


def _kind_of(value: Any, where: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise _Unsupported(f"the enum {_at(where)} holds a value of no simple type")


def _enum_values(node: dict[str, Any]) -> list[Any]:
    if isinstance(node.get("enum"), list):
        return list(node["enum"])
    if "const" in node:
        return [node["const"]]
    return []


def _is_null_schema(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in ("null", ["null"])


def _annotate(schema: Schema, node: dict[str, Any]) -> None:
    schema.title = _str(node, "title")
    schema.description = _str(node, "description")


def _str(node: dict[str, Any], key: str) -> Any:
    value = node.get(key)
    return value if isinstance(value, str) else UNSET


def _int(node: dict[str, Any], key: str) -> Any:
    value = node.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else UNSET


def _number(node: dict[str, Any], key: str) -> Any:
    value = node.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return UNSET
