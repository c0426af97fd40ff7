"""Documents to full contract envelopes: stable ids, source, mode, classification, threads."""

from __future__ import annotations

import pytest

from contracts.catalogue import parse_event
from contracts.incidents import DisruptionReportedV1, DisruptionWithdrawnV1, NeedRaisedV1
from services.runtime.wire import encode
from services.standards import cap, edxl_rm
from services.standards.errors import StandardsError
from services.standards.network import Network
from services.standards.translate import translate, translate_bus_entry
from tests.unit.standards.conftest import fixture_xml


def test_a_cap_alert_becomes_one_disruption_envelope_on_the_wire(network: Network) -> None:
    [envelope] = translate_bus_entry("cap", fixture_xml("cap_earthquake.xml"), network=network)
    event = parse_event(encode(envelope))  # what consumers of ingress.events will read
    assert isinstance(event, DisruptionReportedV1)
    assert event.source == cap.SOURCE
    assert event.subject == event.data.disruption_id == event.correlationid
    assert (event.mode, event.classification) == ("live", "public")
    assert event.time.isoformat() == "2026-05-12T14:28:00+08:00"


def test_an_exercise_alert_is_refused_by_a_live_translation_and_taken_by_an_exercise_one(
    network: Network,
) -> None:
    with pytest.raises(StandardsError) as info:
        translate("cap", fixture_xml("cap_flood_exercise.xml"), network=network, mode="live")
    assert "never mixed" in info.value.rule
    [envelope] = translate(
        "cap", fixture_xml("cap_flood_exercise.xml"), network=network, mode="exercise"
    ).envelopes
    assert (envelope.mode, envelope.classification) == ("exercise", "restricted")


def test_a_request_becomes_need_envelopes_and_threads(network: Network) -> None:
    t = translate("edxl-rm", fixture_xml("rm_request.xml"), network=network, mode="exercise")
    assert len(t.envelopes) == len(t.threads) == 2
    for envelope, thread in zip(t.envelopes, t.threads, strict=True):
        event = parse_event(encode(envelope))
        assert isinstance(event, NeedRaisedV1)
        assert event.source == edxl_rm.SOURCE
        assert event.subject == event.data.need_id == thread.need_id
        assert event.correlationid == "YAAN-REQ-0001"
        assert event.mode == "exercise"


def test_translating_twice_gives_the_same_event_ids(network: Network) -> None:
    for kind, name in (("cap", "cap_earthquake.xml"), ("edxl-rm", "rm_request.xml")):
        a = translate(kind, fixture_xml(name), network=network).envelopes
        b = translate(kind, fixture_xml(name), network=network).envelopes
        assert [e.id for e in a] == [e.id for e in b]


def test_a_cancel_becomes_a_withdrawal_of_the_original_disruption_on_the_wire(
    network: Network,
) -> None:
    [envelope] = translate_bus_entry("cap", fixture_xml("cap_cancel.xml"), network=network)
    event = parse_event(encode(envelope))
    assert isinstance(event, DisruptionWithdrawnV1)
    original = cap.disruption_id_for("alerts@cea.example.cn", "CEA-2026-0512-001")
    assert event.data.disruption_id == event.subject == event.correlationid == original
    assert event.data.reason == "Issued in error: seismometer fault"
    assert event.data.withdrawn_at.isoformat() == "2026-05-13T09:00:00+08:00"
    assert event.source == cap.SOURCE
    assert (event.mode, event.classification) == ("live", "public")
    # the same Cancel twice is the same event: consumers apply it once
    [again] = translate("cap", fixture_xml("cap_cancel.xml"), network=network).envelopes
    assert again.id == event.id


def test_an_unknown_kind_is_refused(network: Network) -> None:
    with pytest.raises(StandardsError, match="not a standard"):
        translate("edxl-sitrep", b"<x/>", network=network)
