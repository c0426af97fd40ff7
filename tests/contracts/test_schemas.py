"""The event catalogue: published schemas are frozen, envelopes round-trip, bad input is named."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.catalogue import BY_TYPE, EVENT_CLASSES, parse_event, type_name
from contracts.envelope import Envelope
from contracts.incidents import (
    DisruptionReported,
    DisruptionReportedV1,
    NeedRaised,
    NeedRaisedV1,
)
from contracts.schema_export import schemas

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=type_name)
def test_a_published_schema_cannot_change_without_a_version_bump(cls: type[Envelope]) -> None:
    name = type_name(cls)
    path = SCHEMA_DIR / f"{name}.json"
    assert path.exists(), (
        f"no committed schema for {name}: run `hinterland schemas export` and commit {path.name}"
    )
    committed = json.loads(path.read_text())
    successor = re.sub(r"V\d+$", "V2", cls.__name__)
    assert cls.model_json_schema() == committed, (
        f"schema of {name} changed: add a new version ({successor}) instead of changing a "
        "published one, then run `hinterland schemas export`"
    )


def test_every_committed_schema_belongs_to_a_catalogued_event() -> None:
    committed = {p.name.removesuffix(".json") for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(schemas())


def test_every_type_name_ends_with_a_version_and_the_class_name_matches_it() -> None:
    for cls in EVENT_CLASSES:
        name = type_name(cls)
        match = re.fullmatch(r"hinterland\.[a-z]+\.[a-z_]+\.v(\d+)", name)
        assert match, f"{name} does not end with .v<N>"
        assert cls.__name__.endswith(f"V{match.group(1)}"), (cls.__name__, name)


def test_type_names_are_unique_and_look_up_their_class() -> None:
    assert len(BY_TYPE) == len(EVENT_CLASSES)
    for cls in EVENT_CLASSES:
        assert BY_TYPE[type_name(cls)] is cls


def need_raised() -> NeedRaisedV1:
    return NeedRaisedV1(
        id="evt-need-1",
        source="/hinterland/test",
        time="2026-05-12T06:00:00+08:00",
        correlationid="exercise-1",
        mode="exercise",
        classification="restricted",
        data=NeedRaised(
            need_id="NEED-1",
            node_id="N-yaan",
            commodity="medical",
            quantity=10.5,
            priority="life_saving",
            deadline="2026-05-12T12:00:00+00:00",
            precedence=3,
        ),
    )


def disruption_reported() -> DisruptionReportedV1:
    return DisruptionReportedV1(
        id="evt-dis-1",
        source="urn:cma:seismic-feed",
        time="2026-05-12T06:28:00+00:00",
        correlationid="crisis-1",
        causationid="evt-need-1",
        data=DisruptionReported.model_validate(
            {
                "disruption_id": "DIS-1",
                "kind": "earthquake",
                "severity": 5,
                "observed_at": "2026-05-12T06:28:00+00:00",
                "links": ["L-1"],
                "area": {
                    "shape": "polygon",
                    "points": [[30.0, 102.8], [30.2, 103.2], [29.8, 103.3], [30.0, 102.8]],
                },
                "degrade_factor": 0.3,
            }
        ),
    )


@pytest.mark.parametrize("build", [need_raised, disruption_reported])
def test_an_envelope_round_trips_through_json_and_parse_event(build: Any) -> None:
    event = build()
    parsed = parse_event(event.model_dump_json())
    assert type(parsed) is type(event)
    assert parsed == event
    assert parse_event(parsed.model_dump_json().encode()) == event


def raw_need(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(need_raised().model_dump_json())
    for dotted, value in changes.items():
        target = raw
        *path, last = dotted.split("__")
        for key in path:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return raw


def raw_disruption_with_area(area: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(disruption_reported().model_dump_json())
    raw["data"]["area"] = area
    return raw


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (raw_need(type="hinterland.incidents.need_raised.v9"), "type", "does not match"),
        (raw_need(data__need_id=...), "need_id", "Field required"),
        (raw_need(id=...), "id", "Field required"),
        (raw_need(data__quantity=-5), "quantity", "greater than 0"),
        (raw_need(data__quantity=0), "quantity", "greater than 0"),
        (raw_need(time="2026-05-12T06:00:00"), "time", "timezone"),
        (raw_need(data__deadline="2026-05-12T12:00:00"), "deadline", "timezone"),
        (raw_need(data__commodity="Medical Kits"), "commodity", "pattern"),
        (raw_need(mode="training"), "mode", "live"),
        (
            raw_disruption_with_area(
                {
                    "shape": "polygon",
                    "points": [[30.0, 102.8], [30.2, 103.2], [29.8, 103.3], [30.1, 102.8]],
                }
            ),
            "points",
            "not closed",
        ),
        (
            raw_disruption_with_area(
                {"shape": "circle", "lat": 30.0, "lon": 103.0, "radius_km": 0}
            ),
            "radius_km",
            "greater than 0",
        ),
    ],
    ids=[
        "unknown type",
        "missing data field",
        "missing envelope field",
        "negative quantity",
        "zero quantity",
        "naive envelope time",
        "naive deadline",
        "bad commodity code",
        "unknown mode",
        "open polygon",
        "zero radius",
    ],
)
def test_invalid_input_raises_a_validation_error_naming_the_field(
    raw: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event(json.dumps(raw))
    text = str(caught.value)
    assert field in text
    assert words in text


def test_a_disruption_that_names_nothing_affected_is_rejected() -> None:
    raw: dict[str, Any] = json.loads(disruption_reported().model_dump_json())
    raw["data"].update(links=[], area=None)
    with pytest.raises(ValidationError, match="must name links, nodes, depots or an area"):
        parse_event(json.dumps(raw))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    raw = raw_need(data__new_field="from a later producer", extension="x")
    assert parse_event(json.dumps(raw)) == need_raised()
