"""Every contract under almost-valid JSON: a valid model or a ValidationError naming a field.

Instances are drawn from each event class's own JSON Schema (``from_schema`` below covers what
pydantic emits: objects, $ref, anyOf, enum/const, bounded strings, numbers, arrays, tuples), then
spoilt in one way: a field dropped, a value of the wrong type or out of range, an unknown
field, the text cut short, bytes flipped. ``parse_event`` (what every consumer calls) must
then either return a model of the right class that round-trips, or raise
``pydantic.ValidationError`` whose every error points at a field (or, for text that is not
JSON at all / has no ``type``, says so). Any other exception is a crash a bad publisher could
cause in every consumer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.catalogue import EVENT_CLASSES, parse_event, type_name
from contracts.envelope import Envelope
from services.runtime.wire import encode
from tests.property.documents import paths, set_at

ROOT_ERRORS = {
    "json_invalid",
    "json_type",
    "dict_type",
    "union_tag_not_found",
    "union_tag_invalid",
    "model_type",
}
"""Errors about the document as a whole: loc is empty, the message says what is wrong."""

JUNK: Any = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _schema(cls: type[Envelope]) -> dict[str, Any]:
    return cls.model_json_schema(mode="validation")


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A strategy for (mostly) valid instances of a pydantic JSON Schema."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return st.deferred(lambda: from_schema(defs[schema["$ref"].split("/")[-1]], defs))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, defs) for s in schema[key]])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not props:
            values = from_schema(schema.get("additionalProperties") or {"type": "integer"}, defs)
            return st.dictionaries(st.text(max_size=8), values, max_size=3)
        return st.fixed_dictionaries(
            {k: from_schema(v, defs) for k, v in props.items() if k in required},
            optional={k: from_schema(v, defs) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        if "prefixItems" in schema:
            return st.tuples(*(from_schema(s, defs) for s in schema["prefixItems"])).map(list)
        return st.lists(
            from_schema(schema.get("items", {}), defs),
            min_size=schema.get("minItems", 0),
            max_size=max(schema.get("minItems", 0), 3),
        )
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda t: len(t) <= schema.get("maxLength", 64)
            )
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 20))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if kind == "integer":
            lo = None if low is None else int(low) + (1 if "exclusiveMinimum" in schema else 0)
            return st.integers(min_value=lo, max_value=None if high is None else int(high))
        return st.floats(
            min_value=low,
            max_value=high,
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JUNK


@st.composite
def almost_valid(draw: st.DrawFn, cls: type[Envelope]) -> bytes:
    doc = draw(from_schema(_schema(cls)))
    doc["type"] = type_name(cls)
    how = draw(st.sampled_from(["as is", "drop", "junk", "extra", "cut", "flip"]))
    spots = paths(doc)
    if how in ("drop", "junk") and spots:
        path = draw(st.sampled_from(spots))
        if how == "drop":
            set_at(doc, path, None, delete=True)
        else:
            set_at(doc, path, draw(JUNK))
    elif how == "extra":
        doc[draw(st.text(min_size=1, max_size=10))] = draw(JUNK)
    text = json.dumps(doc).encode()
    if how == "cut" and text:
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif how == "flip" and text:
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + bytes([draw(st.integers(0, 255))]) + text[i + 1 :]
    return text


def _check(raw: bytes, cls: type[Envelope]) -> None:
    try:
        event = parse_event(raw)
    except ValidationError as exc:
        for err in exc.errors():
            assert err["loc"] or err["type"] in ROOT_ERRORS, err
            assert err["msg"], err
        return
    assert isinstance(event, Envelope)
    assert parse_event(encode(event)) == event  # what a service re-publishes reads back equal


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=type_name)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_contract_parses_or_names_the_field(cls: type[Envelope], data: st.DataObject) -> None:
    _check(data.draw(almost_valid(cls)), cls)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    errors: list[Any] = []
    try:
        parse_event(raw)
    except ValidationError as exc:
        errors = list(exc.errors())
    assert all(e["loc"] or e["type"] in ROOT_ERRORS for e in errors), errors
