"""What a resume form asks for, and turning what was typed into a resume input.

Pure: no widgets here. A waiting step's ``info`` may describe its answer with a
JSON-Schema-like ``input_schema`` or a ``fields`` list/dict; :func:`field_specs`
normalises both to :class:`FieldSpec`. :func:`parse_value` reads any YAML/JSON value
(a signal's payload), :func:`parse_mapping` an object (a resume input) and
:func:`parse_arguments` a query's arguments; each names the line and column of a
syntax error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from julep_nb.sources.julep.errors import InputError

__all__ = [
    "FieldSpec",
    "convert",
    "field_specs",
    "parse_arguments",
    "parse_mapping",
    "parse_value",
    "schema_problem",
]

_JSON_OBJECT = re.compile(r'\s*\{\s*"')
SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One input of a resume form."""

    name: str
    type: str = "string"  # string | number | integer | boolean | json (anything else)
    required: bool = False
    enum: tuple[Any, ...] | None = None
    default: Any = None
    title: str | None = None
    description: str | None = None

    @property
    def label(self) -> str:
        return self.title or self.name


def _type_of(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    if isinstance(kind, list):  # ["string", "null"]: the non-null one
        kind = next((k for k in kind if k != "null"), "string")
    return kind if kind in SCALAR_TYPES else "json"


def _spec(name: str, raw: Any, required: bool) -> FieldSpec:
    if isinstance(raw, str):  # fields: {"answer": "integer"}
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raw = {}
    enum = raw.get("enum")
    return FieldSpec(
        name=name,
        type=_type_of(raw),
        required=bool(raw.get("required", required)),
        enum=tuple(enum) if isinstance(enum, list) and enum else None,
        default=raw.get("default"),
        title=raw.get("title") if isinstance(raw.get("title"), str) else None,
        description=raw.get("description") if isinstance(raw.get("description"), str) else None,
    )


def _from_schema(schema: Mapping[str, Any]) -> list[FieldSpec]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    return [_spec(str(name), raw, name in needed) for name, raw in properties.items()]


def _from_fields(fields: Any) -> list[FieldSpec]:
    if isinstance(fields, Mapping):
        return [_spec(str(name), raw, False) for name, raw in fields.items()]
    if not isinstance(fields, list):
        return []
    specs = []
    for item in fields:
        if isinstance(item, str):
            specs.append(FieldSpec(name=item))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            specs.append(_spec(item["name"], item, False))
    return specs


def field_specs(info: Any) -> list[FieldSpec]:
    """The fields ``info`` describes (``input_schema`` first, then ``fields``), or []."""
    if not isinstance(info, Mapping):
        return []
    schema = info.get("input_schema")
    if isinstance(schema, Mapping):
        specs = _from_schema(schema)
        if specs:
            return specs
    return _from_fields(info.get("fields"))


def parse_value(text: str) -> Any:
    """A YAML or JSON value from ``text`` (empty: None); InputError names line/column."""
    if not text.strip():
        return None
    if _JSON_OBJECT.match(text):  # {"key": ...}: JSON, and its errors are JSON's
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                f"Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}. "
                "Fix the input and submit again; nothing was sent."
            ) from None
    try:  # YAML, flow style ({answer: 42}) and most JSON included
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InputError(
            f"Invalid YAML{where}: {problem}. Fix the input and submit again; nothing was sent."
        ) from None


def parse_mapping(text: str) -> dict[str, Any]:
    """A YAML or JSON object from ``text`` (empty: ``{}``); InputError names line/column."""
    value = parse_value(text)
    if value is None and not text.strip():
        return {}
    if not isinstance(value, dict):
        raise InputError(
            f"The resume input must be a mapping (e.g. 'answer: 42'), got "
            f"{type(value).__name__}: {str(value)[:80]!r}. Nothing was sent."
        )
    return value


def parse_arguments(text: str) -> tuple[Any, ...]:
    """Query arguments from YAML/JSON: empty is none, a list is the arguments, else one."""
    value = parse_value(text)
    if value is None and not text.strip():
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def convert(spec: FieldSpec, raw: Any) -> Any:
    """The value of one field from its widget value; InputError names the field."""
    if spec.type == "boolean" or spec.enum is not None:
        return raw
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    try:
        if spec.type == "integer":
            return int(text)
        if spec.type == "number":
            return float(text)
    except ValueError:
        kind = "an integer" if spec.type == "integer" else "a number"
        raise InputError(f"{spec.label}: {text[:40]!r} is not {kind}.") from None
    if spec.type == "json":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise InputError(f"{spec.label}: not valid YAML/JSON{where}.") from None
    return str(raw)


def schema_problem(schema: Any, value: dict[str, Any]) -> str | None:
    """Why ``value`` does not match ``schema`` (None when it does or it is no schema)."""
    if not isinstance(schema, Mapping):
        return None
    import jsonschema

    schema = dict(schema)
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError:
        return None  # a loose description, not a real schema: fields were enough
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(value))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"
