"""CAP 1.2 in: validation with precise errors, alert -> disruption, updates, cancels, round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from contracts.common import Circle, Polygon
from contracts.incidents import DisruptionReported
from services.standards import cap
from services.standards.errors import StandardsError
from services.standards.network import CircleArea, Network, contains
from tests.unit.standards.conftest import fixture_text, fixture_xml

CEA = "alerts@cea.example.cn"


def quake(**replacements: str) -> str:
    text = fixture_text("cap_earthquake.xml")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


POLYGON = "<polygon>30.3,102.7 30.3,103.2 29.9,103.2 29.9,102.7 30.3,102.7</polygon>"


def refused(document: str | bytes, network: Network) -> StandardsError:
    with pytest.raises(StandardsError) as info:
        cap.translate_alert(document, network)
    return info.value


# --------------------------------------------------------------------------- good alerts


def test_an_extreme_earthquake_loses_the_nodes_and_depots_inside_and_cuts_the_links_touching_it(
    network: Network,
) -> None:
    t = cap.translate_alert(fixture_xml("cap_earthquake.xml"), network)
    d = t.disruption
    assert d is not None
    assert t.withdrawal is None
    assert (t.mode, t.classification) == ("live", "public")
    assert d.kind == "earthquake"
    assert d.severity == 5
    assert d.nodes == ["N-lushan", "N-yaan"]
    assert d.depots == ["D-yaan"]
    assert d.links == [
        "L-road-chengdu-yaan",  # one end inside
        "L-road-kangding-chengdu",  # runs through the area
        "L-road-tianquan-hongya",  # runs through the area
        "L-road-yaan-lushan",  # both ends inside
    ]
    assert d.degrade_factor is None  # Extreme: cut, not degraded
    assert isinstance(d.area, Polygon)
    assert d.area.points[0] == (30.3, 102.7)
    assert d.observed_at == datetime(2026, 5, 12, 6, 27, 30, tzinfo=UTC)  # onset
    assert "M7.0 earthquake, Lushan county" in d.description
    assert d.disruption_id == cap.disruption_id_for(CEA, "CEA-2026-0512-001")


def test_an_air_link_is_not_affected_by_an_area_it_only_flies_over(network: Network) -> None:
    d = cap.translate_alert(fixture_xml("cap_earthquake.xml"), network).disruption
    assert d is not None
    assert "L-air-kangding-chengdu" not in d.links
    assert "L-rail-chengdu-chongqing" not in d.links


def test_a_moderate_exercise_flood_degrades_links_and_loses_nothing(network: Network) -> None:
    t = cap.translate_alert(fixture_xml("cap_flood_exercise.xml"), network)
    d = t.disruption
    assert d is not None
    assert (t.mode, t.classification) == ("exercise", "restricted")
    assert d.kind == "flood"
    assert d.severity == 3
    assert d.nodes == []
    assert d.depots == []
    # the Hongya road passes within 12 km of the centre without an end inside
    assert d.links == ["L-road-chengdu-yaan", "L-road-tianquan-hongya", "L-road-yaan-lushan"]
    assert d.degrade_factor == 0.55
    assert d.area == Circle(lat=29.98, lon=103.05, radius_km=12)


@pytest.mark.parametrize(
    ("status", "mode"), [("Actual", "live"), ("Exercise", "exercise"), ("Test", "exercise")]
)
def test_status_decides_the_mode(network: Network, status: str, mode: str) -> None:
    t = cap.translate_alert(quake(**{"<status>Actual": f"<status>{status}"}), network)
    assert t.mode == mode


@pytest.mark.parametrize("status", ["System", "Draft"])
def test_system_and_draft_alerts_are_refused_saying_why(network: Network, status: str) -> None:
    err = refused(quake(**{"<status>Actual": f"<status>{status}"}), network)
    assert err.element == "alert/status"
    assert err.problem == "unsupported"
    assert status in err.rule
    assert "Actual" in err.rule


@pytest.mark.parametrize(
    ("severity", "expected", "factor"),
    [("Extreme", 5, None), ("Severe", 4, None), ("Moderate", 3, 0.55), ("Minor", 2, 0.7),
     ("Unknown", 3, 0.55)],
)  # fmt: skip
def test_cap_severity_maps_to_contract_severity_and_effect(
    network: Network, severity: str, expected: int, factor: float | None
) -> None:
    d = cap.translate_alert(
        quake(**{"<severity>Extreme": f"<severity>{severity}"}), network
    ).disruption
    assert d is not None
    assert d.severity == expected
    assert d.degrade_factor == factor
    assert bool(d.nodes) == (expected == 5)


@pytest.mark.parametrize(
    ("category", "event", "kind"),
    [
        ("Geo", "Earthquake", "earthquake"),
        ("Geo", "Tsunami", "flood"),
        ("Met", "Typhoon", "flood"),
        ("Transport", "Bridge collapse", "link_cut"),
        ("Infra", "Substation fire", "node_lost"),
        ("Fire", "Wildfire", "link_cut"),
        ("Health", "Cholera outbreak", "demand_surge"),
        ("Other", "Unexploded ordnance", "link_cut"),
    ],
)
def test_categories_map_to_disruption_kinds(
    network: Network, category: str, event: str, kind: str
) -> None:
    d = cap.translate_alert(
        quake(**{"<category>Geo": f"<category>{category}", "<event>Earthquake": f"<event>{event}"}),
        network,
    ).disruption
    assert d is not None
    assert d.kind == kind
    if kind == "demand_surge":  # a demand surge changes needs, not the network
        assert d.links == []
        assert d.nodes == []
        assert d.area is not None


def test_a_severe_infrastructure_failure_loses_the_nodes_inside(network: Network) -> None:
    d = cap.translate_alert(
        quake(**{"<category>Geo": "<category>Infra", "<severity>Extreme": "<severity>Severe"}),
        network,
    ).disruption
    assert d is not None
    assert d.nodes == ["N-lushan", "N-yaan"]


def test_an_update_re_reports_the_same_disruption_with_the_new_assessment(
    network: Network,
) -> None:
    original = cap.translate_alert(fixture_xml("cap_earthquake.xml"), network)
    update = cap.translate_alert(fixture_xml("cap_update.xml"), network)
    assert update.disruption is not None
    assert original.disruption is not None
    assert update.disruption_id == original.disruption_id
    assert update.event_id != original.event_id
    assert update.disruption.severity == 4
    assert update.disruption.nodes == []  # Severe: links cut, nodes kept


def test_a_cancel_withdraws_the_original_disruption(network: Network) -> None:
    t = cap.translate_alert(fixture_xml("cap_cancel.xml"), network)
    assert t.disruption is None
    assert t.withdrawal == cap.Withdrawal(
        disruption_id=cap.disruption_id_for(CEA, "CEA-2026-0512-001"),
        reason="Issued in error: seismometer fault",
        withdrawn_at=datetime(2026, 5, 13, 9, 0, tzinfo=timezone(timedelta(hours=8))),
    )


def test_the_same_alert_always_gets_the_same_event_id(network: Network) -> None:
    a = cap.translate_alert(fixture_xml("cap_earthquake.xml"), network)
    b = cap.translate_alert(fixture_xml("cap_earthquake.xml"), network)
    assert a.event_id == b.event_id
    assert a.disruption == b.disruption


def test_a_partner_cannot_name_our_disruption_ids_through_hinterland_parameters(
    network: Network,
) -> None:
    sneaky = quake(
        **{
            "<parameter>": "<parameter><valueName>hinterland:disruption_id</valueName>"
            "<value>Q-1</value></parameter><parameter>"
        }
    )
    d = cap.translate_alert(sneaky, network).disruption
    assert d is not None
    assert d.disruption_id != "Q-1"


# --------------------------------------------------------------------------- bad alerts


def test_an_unclosed_polygon_is_refused_naming_the_polygon_and_the_rule(network: Network) -> None:
    err = refused(
        quake(**{POLYGON: "<polygon>30.3,102.7 30.3,103.2 29.9,103.2 29.9,102.7</polygon>"}),
        network,
    )
    assert err.element == "alert/info[1]/area[1]/polygon[1]"
    assert "not closed" in err.rule
    assert "30.3,102.7" in err.rule
    assert "29.9,102.7" in err.rule
    assert err.line is not None
    assert err.line > 1
    assert err.problem == "invalid"


@pytest.mark.parametrize(
    ("replacements", "element", "words"),
    [
        ({"  <sender>alerts@cea.example.cn</sender>\n": ""}, "alert/sender", "required"),
        ({"<identifier>CEA-2026-0512-001": "<identifier>CEA 2026"}, "alert/identifier",
         "spaces, commas"),
        ({"<sent>2026-05-12T14:28:00+08:00": "<sent>2026-05-12T06:28:00Z"}, "alert/sent",
         "'Z'"),
        ({"<sent>2026-05-12T14:28:00+08:00": "<sent>2026-05-12T14:28:00"}, "alert/sent",
         "UTC offset"),
        ({"<msgType>Alert": "<msgType>Notice"}, "alert/msgType", "Alert, Update, Cancel"),
        ({"<scope>Public": "<scope>Restricted"}, "alert/restriction", "Restricted"),
        ({"<scope>Public": "<scope>Private"}, "alert/addresses", "Private"),
        ({"<msgType>Alert": "<msgType>Update"}, "alert/references", "Update"),
        ({"    <category>Geo</category>\n": ""}, "alert/info[1]", "<category> is required"),
        ({"<severity>Extreme": "<severity>Catastrophic"}, "alert/info[1]/severity",
         "Extreme, Severe"),
        ({"<certainty>Observed": "<certainty>VeryLikely"}, "alert/info[1]/certainty",
         "use Likely"),
        ({"<urgency>Immediate</urgency>": "<urgency>Immediate</urgency><urgency>Past</urgency>"},
         "alert/info[1]/urgency[2]", "at most once"),
        ({POLYGON: "<polygon>30.3,102.7 29.9,103.2 30.3,102.7</polygon>"},
         "alert/info[1]/area[1]/polygon[1]", "at least 4"),
        ({POLYGON: "<polygon>30.3;102.7 30.3,103.2 29.9,103.2 30.3;102.7</polygon>"},
         "alert/info[1]/area[1]/polygon[1]", "'30.3;102.7' is not a WGS 84"),
        ({POLYGON: "<polygon>95.0,102.7 30.3,103.2 29.9,103.2 95.0,102.7</polygon>"},
         "alert/info[1]/area[1]/polygon[1]", "latitude 95.0"),
        ({POLYGON: "<circle>30.0,103.0</circle>"}, "alert/info[1]/area[1]/circle[1]",
         "radius in kilometres"),
        ({POLYGON: "<circle>30.0,103.0 -5</circle>"}, "alert/info[1]/area[1]/circle[1]",
         "radius '-5'"),
        ({POLYGON: POLYGON + "<ceiling>3000</ceiling>"}, "alert/info[1]/area[1]/ceiling",
         "<altitude>"),
        ({POLYGON: "<geocode><valueName>FIPS6</valueName><value>006113</value></geocode>"},
         "alert/info/area", "no <polygon> or <circle>"),
    ],
    ids=[
        "missing sender", "identifier with a space", "Z time zone", "naive sent",
        "unknown msgType", "Restricted without restriction", "Private without addresses",
        "Update without references", "info without category", "unknown severity",
        "retired certainty", "urgency twice", "polygon of 3 pairs", "malformed pair",
        "latitude out of range", "circle without radius", "negative radius",
        "ceiling without altitude", "geocode-only area",
    ],
)  # fmt: skip
def test_a_bad_alert_is_refused_naming_the_element_and_the_rule(
    network: Network, replacements: dict[str, str], element: str, words: str
) -> None:
    err = refused(quake(**replacements), network)
    assert err.element == element, str(err)
    assert words in err.rule, str(err)


def test_an_alert_in_another_namespace_is_refused_as_malformed(network: Network) -> None:
    err = refused(
        quake(
            **{
                "urn:oasis:names:tc:emergency:cap:1.2": "urn:oasis:names:tc:emergency:cap:1.1",
            }
        ),
        network,
    )
    assert err.problem == "malformed"
    assert "urn:oasis:names:tc:emergency:cap:1.2" in err.rule
    assert "CAP 1.1 is not accepted" in err.rule


def test_elements_outside_the_cap_namespace_do_not_count(network: Network) -> None:
    err = refused(
        quake(**{"<sender>alerts@cea.example.cn</sender>": '<sender xmlns="">x</sender>'}),
        network,
    )
    assert err.element == "alert/sender"


@pytest.mark.parametrize("msg_type", ["Ack", "Error"])
def test_acks_and_errors_report_no_disruption(network: Network, msg_type: str) -> None:
    text = quake(
        **{
            "<msgType>Alert</msgType>": f"<msgType>{msg_type}</msgType>",
            "<scope>Public</scope>": "<scope>Public</scope><references>"
            "a@b,X-1,2026-05-12T14:00:00+08:00</references>",
        }
    )
    err = refused(text, network)
    assert (err.element, err.problem) == ("alert/msgType", "unsupported")


def test_an_alert_without_info_is_refused(network: Network) -> None:
    start = fixture_text("cap_earthquake.xml")
    text = start[: start.index("<info>")] + "</alert>\n"
    err = refused(text, network)
    assert err.element == "alert/info"


# --------------------------------------------------------------------------- emitting

SENT = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "disruption",
    [
        DisruptionReported(
            disruption_id="Q-2",
            kind="link_cut",
            severity=4,
            observed_at=datetime(2026, 5, 12, 8, 0, tzinfo=UTC),
            links=["L-road-chengdu-yaan"],
        ),
        DisruptionReported(
            disruption_id="Q-3",
            kind="flood",
            severity=2,
            observed_at=datetime(2026, 5, 12, 16, 30, tzinfo=timezone(timedelta(hours=8))),
            links=["L-road-yaan-lushan", "L-road-chengdu-yaan"],
            nodes=["N-lushan"],
            depots=["D-yaan"],
            area=Polygon(points=[(30.3, 102.7), (30.3, 103.25), (29.9, 103.2), (30.3, 102.7)]),
            degrade_factor=0.4,
            description="Qingyi river flood, gauges at Ya'an over 5 m",
        ),
        DisruptionReported(
            disruption_id="Q-4",
            kind="depot_lost",
            severity=5,
            observed_at=datetime(2026, 5, 12, 8, 0, tzinfo=UTC),
            depots=["D-yaan"],
            area=Circle(lat=30.0, lon=103.0, radius_km=2.5),
        ),
    ],
    ids=["links only", "everything", "depot with circle"],
)
def test_an_emitted_alert_parses_back_to_the_same_disruption(
    network: Network, disruption: DisruptionReported
) -> None:
    xml = cap.disruption_to_cap(disruption, network=network, sent=SENT)
    back = cap.translate_alert(xml, network)
    assert back.disruption == disruption
    assert back.mode == "live"


def test_an_emitted_alert_is_valid_cap_other_systems_can_read(network: Network) -> None:
    d = DisruptionReported(
        disruption_id="Q-2",
        kind="link_cut",
        severity=4,
        observed_at=datetime(2026, 5, 12, 8, 0, tzinfo=UTC),
        links=["L-road-chengdu-yaan"],
    )
    xml = cap.disruption_to_cap(
        d, network=network, sent=SENT, mode="exercise", classification="restricted"
    )
    alert = cap.parse_alert(xml)
    assert alert.sender == cap.HINTERLAND_SENDER
    assert (alert.status, alert.scope, alert.msg_type) == ("Exercise", "Restricted", "Alert")
    assert alert.restriction is not None
    assert "restricted" in alert.restriction
    assert b"<sent>2026-05-12T09:00:00-00:00</sent>" in xml
    [info] = alert.infos
    assert (info.categories, info.severity) == (("Transport",), "Severe")
    # no area was reported: one is derived around the link's two ends for CAP consumers
    [area] = info.areas
    [circle] = area.shapes
    assert isinstance(circle, CircleArea)
    for node_id in ("N-chengdu", "N-yaan"):
        node = network.node(node_id)
        assert node is not None
        assert contains(circle, node.lat, node.lon)
    back = cap.translate_alert(xml, network)
    assert (back.mode, back.classification) == ("exercise", "restricted")
    assert back.disruption is not None
    assert back.disruption.area is None


def test_an_update_we_emit_references_the_original_and_keeps_the_id(network: Network) -> None:
    d = DisruptionReported(
        disruption_id="Q-2",
        kind="link_cut",
        severity=4,
        observed_at=datetime(2026, 5, 12, 8, 0, tzinfo=UTC),
        links=["L-road-chengdu-yaan"],
    )
    first = cap.parse_alert(cap.disruption_to_cap(d, network=network, sent=SENT))
    ref = cap.CapReference(first.sender, first.identifier, first.sent)
    later = SENT + timedelta(hours=1)
    xml = cap.disruption_to_cap(d, network=network, sent=later, msg_type="Update", references=[ref])
    update = cap.parse_alert(xml)
    assert update.references == (ref,)
    assert update.identifier != first.identifier
    back = cap.translate_alert(xml, network).disruption
    assert back is not None
    assert back.disruption_id == "Q-2"
