"""EDXL-RM 1.0: requests in as needs, the per-type rules enforced, commitments and status out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from contracts.dispatch import (
    DispatchOrderIssued,
    NeedPlan,
    NeedSource,
    PlanKpis,
    PlannedStop,
    PlanPublished,
)
from contracts.execution import Cargo, OrderProgressReported
from services.standards import edxl_rm
from services.standards.errors import StandardsError
from services.standards.network import Network
from services.standards.threads import InMemoryThreadStore, NeedThread
from services.standards.xmltree import parse
from tests.unit.standards.conftest import fixture_text, fixture_xml

CST = timezone(timedelta(hours=8))


def request(**replacements: str) -> str:
    text = fixture_text("rm_request.xml")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def refused(document: str | bytes, network: Network) -> StandardsError:
    with pytest.raises(StandardsError) as info:
        edxl_rm.translate_request(document, network)
    return info.value


# --------------------------------------------------------------------------- requests in


def test_each_requested_item_becomes_a_need_with_its_thread(network: Network) -> None:
    t = edxl_rm.translate_request(fixture_xml("rm_request.xml"), network)
    assert t.message.message_type == "RequestResource"
    first, second = t.needs
    assert first.need.model_dump() == {
        "need_id": edxl_rm.need_id_for("YAAN-REQ-0001", "1"),
        "node_id": "N-yaan",  # LocationDescription names a node
        "commodity": "medical",  # 'Trauma kits and medicines'
        "quantity": 20.0,
        "unit": "t",
        "priority": "life_saving",  # urn:hinterland:priority
        "deadline": datetime(2026, 5, 12, 21, 0, tzinfo=CST),  # RequestedArrival
        "precedence": 0,
    }
    assert first.thread == NeedThread(
        need_id=first.need.need_id,
        originating_message_id="YAAN-REQ-0001",
        last_message_id="YAAN-REQ-0001",
        resource_info_element_id="1",
        incident_id="SC-EQ-2026-05-12",
    )
    assert second.need.commodity == "tents"  # from the TypeStructure value
    assert (second.need.quantity, second.need.unit) == (500.0, "kg")  # QuantityText
    assert second.need.node_id == "N-lushan"  # gml:pos snapped to the nearest node
    assert second.need.priority == "sustaining"  # 'Urgent' on an urgency value list
    # no RequestedArrival: sent + 48 h for a sustaining need
    assert second.need.deadline == datetime(2026, 5, 14, 15, 0, tzinfo=CST)
    assert len({first.event_id, second.event_id}) == 2


def test_a_requisition_in_litres_of_water_with_an_explicit_node(network: Network) -> None:
    t = edxl_rm.translate_request(fixture_xml("rm_requisition.xml"), network)
    [item] = t.needs
    assert item.need.commodity == "water"
    assert (item.need.quantity, item.need.unit) == (12000.0, "kg")  # 1 kg per litre
    assert item.need.node_id == "N-lushan"
    assert item.need.precedence == 3
    assert item.thread.originating_message_id == "LUSHAN-REQ-0006"
    assert item.thread.last_message_id == "LUSHAN-REQN-0007"


def test_the_same_item_of_the_same_thread_is_the_same_need(network: Network) -> None:
    """A requisition following a request (citing it as originating) does not double demand."""
    req = edxl_rm.translate_request(fixture_xml("rm_request.xml"), network)
    requisition = request(
        **{
            "<rmsg:RequestResource ": "<rmsg:RequisitionResource ",
            "<rmsg:MessageID>YAAN-REQ-0001": "<rmsg:MessageID>YAAN-REQN-0002",
            "<rmsg:MessageContentType>RequestResource": "<rmsg:MessageContentType>"
            "RequisitionResource",
            "<rmsg:IncidentInformation>": "<rmsg:OriginatingMessageID>YAAN-REQ-0001"
            "</rmsg:OriginatingMessageID><rmsg:IncidentInformation>",
        }
    ).replace("</rmsg:RequestResource>", "</rmsg:RequisitionResource>")
    reqn = edxl_rm.translate_request(requisition, network)
    assert [n.need.need_id for n in reqn.needs] == [n.need.need_id for n in req.needs]
    assert [n.event_id for n in reqn.needs] != [n.event_id for n in req.needs]


@pytest.mark.parametrize(
    ("name", "commodity"),
    [
        ("Diesel generator 20 kVA", "generators"),
        ("Bottled water", "water"),
        ("Rice", "grain"),
        ("Emergency food rations", "grain"),
        ("Jet fuel", "fuel"),
        ("First aid kits", "medical"),
        ("Tarpaulins", "tents"),
    ],
)
def test_resource_names_map_to_commodity_codes(network: Network, name: str, commodity: str) -> None:
    t = edxl_rm.translate_request(request(**{"Trauma kits and medicines": name}), network)
    assert t.needs[0].need.commodity == commodity


def test_an_explicit_commodity_code_wins_over_the_name(network: Network) -> None:
    t = edxl_rm.translate_request(
        request(
            **{
                "<rm:ValueListURN>urn:hinterland:priority</rm:ValueListURN>": "<rm:ValueListURN>"
                "urn:hinterland:commodity</rm:ValueListURN>",
                "<rm:Value>life_saving</rm:Value>": "<rm:Value>dual_use_kits</rm:Value>",
            }
        ),
        network,
    )
    assert t.needs[0].need.commodity == "dual_use_kits"


@pytest.mark.parametrize(
    ("urn", "value", "priority"),
    [
        ("urn:example:priority", "Critical", "life_saving"),
        ("urn:example:priority", "Routine", "routine"),
        ("urn:sahana:eden:request:priority", "3", "life_saving"),
        ("urn:sahana:eden:request:priority", "1", "routine"),
        ("urn:example:other-list", "High", "sustaining"),  # not a priority list: default
    ],
)
def test_priority_and_urgency_keywords_map_to_priority_classes(
    network: Network, urn: str, value: str, priority: str
) -> None:
    t = edxl_rm.translate_request(
        request(
            **{
                "<rm:ValueListURN>urn:hinterland:priority</rm:ValueListURN>": f"<rm:ValueListURN>"
                f"{urn}</rm:ValueListURN>",
                "<rm:Value>life_saving</rm:Value>": f"<rm:Value>{value}</rm:Value>",
            }
        ),
        network,
    )
    assert t.needs[0].need.priority == priority


# --------------------------------------------------------------------------- bad messages in


def test_a_commit_without_preceding_message_id_is_refused_naming_it(network: Network) -> None:
    with pytest.raises(StandardsError) as info:
        edxl_rm.parse_message(fixture_xml("rm_commit_without_preceding.xml"))
    err = info.value
    assert err.element == "CommitResource/PrecedingMessageID"
    assert "required in a CommitResource" in err.rule
    assert err.problem == "invalid"


def test_a_commit_without_originating_message_id_is_refused(network: Network) -> None:
    text = fixture_text("rm_commit_without_preceding.xml").replace(
        "<rmsg:OriginatingMessageID>YAAN-REQ-0001</rmsg:OriginatingMessageID>",
        "<rmsg:PrecedingMessageID>YAAN-REQ-0001</rmsg:PrecedingMessageID>",
    )
    with pytest.raises(StandardsError) as info:
        edxl_rm.parse_message(text)
    assert info.value.element == "CommitResource/OriginatingMessageID"


def _commit(response: str) -> str:
    return (
        fixture_text("rm_commit_without_preceding.xml")
        .replace(
            "</rmsg:OriginatingMessageID>",
            "</rmsg:OriginatingMessageID><rmsg:PrecedingMessageID>YAAN-REQ-0001"
            "</rmsg:PrecedingMessageID>",
        )
        .replace("<rm:ResponseType>Accept</rm:ResponseType>", response)
    )


def test_a_complete_commit_from_a_partner_is_valid_but_not_taken_in(network: Network) -> None:
    message = edxl_rm.parse_message(_commit("<rm:ResponseType>Accept</rm:ResponseType>"))
    assert message.preceding_ids == ("YAAN-REQ-0001",)
    err = refused(_commit("<rm:ResponseType>Accept</rm:ResponseType>"), network)
    assert err.problem == "unsupported"
    assert "RequestResource and RequisitionResource" in err.rule


@pytest.mark.parametrize(
    ("response", "element", "words"),
    [
        ("<rm:ResponseType>Maybe</rm:ResponseType>",
         "CommitResource/ResourceInformation[1]/ResponseInformation[1]/ResponseType",
         "Accept, Decline, Provisional"),
        ("<rm:ResponseType>Decline</rm:ResponseType>",
         "CommitResource/ResourceInformation[1]/ResponseInformation[1]", "must say why"),
    ],
    ids=["unknown response type", "decline without a reason"],
)  # fmt: skip
def test_response_type_rules(response: str, element: str, words: str) -> None:
    with pytest.raises(StandardsError) as info:
        edxl_rm.parse_message(_commit(response))
    assert info.value.element == element
    assert words in info.value.rule


def test_an_accepting_commit_must_say_how_much() -> None:
    text = _commit("<rm:ResponseType>Accept</rm:ResponseType>")
    start, end = (
        text.index("<rmsg:AssignmentInformation>"),
        text.index("</rmsg:AssignmentInformation>"),
    )
    text = text[:start] + text[end + len("</rmsg:AssignmentInformation>") :]
    with pytest.raises(StandardsError) as info:
        edxl_rm.parse_message(text)
    assert info.value.element == "CommitResource/ResourceInformation[1]/AssignmentInformation"
    assert "Accept commitment states how much" in info.value.rule


RESPONSE_INFO = (
    "<rmsg:ResponseInformation><rm:PrecedingResourceInfoElementID>9"
    "</rm:PrecedingResourceInfoElementID><rm:ResponseType>Accept</rm:ResponseType>"
    "</rmsg:ResponseInformation><rmsg:Resource>"
)


@pytest.mark.parametrize(
    ("replacements", "element", "words"),
    [
        ({"<rmsg:Resource>": RESPONSE_INFO},
         "RequestResource/ResourceInformation[1]/ResponseInformation[1]",
         "must not appear in a RequestResource"),
        ({"<rmsg:MessageContentType>RequestResource": "<rmsg:MessageContentType>CommitResource"},
         "RequestResource/MessageContentType", "does not match"),
        ({"2026-05-12T15:00:00+08:00": "2026-05-12T15:00:00"}, "RequestResource/SentDateTime",
         "no UTC offset"),
        ({"<rmsg:MessageID>YAAN-REQ-0001</rmsg:MessageID>": ""}, "RequestResource/MessageID",
         "required"),
        ({"<rmsg:ResourceInfoElementID>2": "<rmsg:ResourceInfoElementID>1"},
         "RequestResource/ResourceInformation[2]/ResourceInfoElementID", "used twice"),
        ({"<rmsg:ContactInformation>": "<rmsg:Contact>",
          "</rmsg:ContactInformation>": "</rmsg:Contact>"},
         "RequestResource", "ContactInformation"),
        ({"<rmsg:ScheduleType>RequestedArrival": "<rmsg:ScheduleType>Soon"},
         "RequestResource/ResourceInformation[1]/ScheduleInformation[1]/ScheduleType",
         "not an EDXL-RM ScheduleType"),
        ({"<rmsg:Name>Trauma kits and medicines</rmsg:Name>": "<rmsg:Name>Track dozer</rmsg:Name>"},
         "RequestResource/ResourceInformation[1]/Resource", "cannot map the resource"),
        ({"<rm:QuantityText>500 kg": "<rm:QuantityText>4"},
         "RequestResource/ResourceInformation[2]/AssignmentInformation/Quantity/QuantityText",
         "no mass unit"),
        ({"<rm:QuantityText>500 kg": "<rm:QuantityText>40 pallets"},
         "RequestResource/ResourceInformation[2]/AssignmentInformation/Quantity/QuantityText",
         "not a mass unit"),
        ({"<rm:Amount>20": "<rm:Amount>-3"},
         "RequestResource/ResourceInformation[1]/AssignmentInformation/Quantity/MeasuredQuantity"
         "/Amount", "positive amount"),
        ({"<gml:pos>30.16 102.94": "<gml:pos>35.0 110.0"},
         "RequestResource/ResourceInformation[2]/ScheduleInformation[1]/Location",
         "no network node within 50 km"),
        ({"<rm:LocationDescription>N-yaan": "<rm:LocationDescription>Ya'an stadium"},
         "RequestResource/ResourceInformation[1]/ScheduleInformation[1]/Location",
         "not a network node id"),
        ({"<rm:Value>life_saving": "<rm:Value>whenever"},
         "RequestResource/ResourceInformation[1]/Resource/Keyword[1]", "not understood"),
        ({"<rmsg:ContactInformation>": "<rmsg:MessageRecall><rm:RecalledMessageID>X"
          "</rm:RecalledMessageID><rm:RecallType>Update</rm:RecallType></rmsg:MessageRecall>"
          "<rmsg:ContactInformation>"},
         "RequestResource/MessageRecall", "not supported yet"),
    ],
    ids=[
        "response information in a request", "content type mismatch", "naive sent time",
        "missing message id", "duplicate item id", "no contact", "unknown schedule type",
        "unmappable resource", "count without unit", "non-mass unit", "negative amount",
        "location far from the network", "unknown place name", "unknown priority",
        "message recall",
    ],
)  # fmt: skip
def test_a_bad_request_is_refused_naming_the_element_and_the_rule(
    network: Network, replacements: dict[str, str], element: str, words: str
) -> None:
    err = refused(request(**replacements), network)
    assert err.element == element, str(err)
    assert words in err.rule, str(err)


def test_a_message_in_the_wrong_namespace_is_malformed(network: Network) -> None:
    err = refused(
        request(
            **{'xmlns:rmsg="urn:oasis:names:tc:emergency:EDXL:RM:1.0:msg"': 'xmlns:rmsg="urn:x"'}
        ),
        network,
    )
    assert err.problem == "malformed"
    assert "urn:oasis:names:tc:emergency:EDXL:RM:1.0:msg" in err.rule


def test_the_per_message_namespace_of_the_standard_is_accepted_too(network: Network) -> None:
    text = request(
        **{
            'xmlns:rmsg="urn:oasis:names:tc:emergency:EDXL:RM:1.0:msg"': 'xmlns:rmsg="urn:oasis:'
            'names:tc:emergency:EDXL:RM:1.0:RequestResource"'
        }
    )
    assert len(edxl_rm.translate_request(text, network).needs) == 2


# --------------------------------------------------------------------------- messages out

T0 = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)


@pytest.fixture
def threads(network: Network) -> dict[str, NeedThread]:
    needs = edxl_rm.translate_request(fixture_xml("rm_request.xml"), network).needs
    other = edxl_rm.translate_request(fixture_xml("rm_requisition.xml"), network).needs
    return {n.need.need_id: n.thread for n in (*needs, *other)}


def _ids(threads: dict[str, NeedThread]) -> tuple[str, str, str]:
    yaan = edxl_rm.need_id_for("YAAN-REQ-0001", "1")
    lushan = edxl_rm.need_id_for("YAAN-REQ-0001", "2")
    water = edxl_rm.need_id_for("LUSHAN-REQ-0006", "A")
    assert {yaan, lushan, water} == set(threads)
    return yaan, lushan, water


def _stop(
    action: str,
    node: str,
    kg: int,
    hours: float,
    need: str | None = None,
    commodity: str = "medical",
) -> PlannedStop:
    return PlannedStop(
        node_id=node,
        action=action,
        depot_id="D-chengdu" if action == "load" else None,
        need_id=need,
        commodity=commodity,
        quantity_kg=kg,
        eta=T0 + timedelta(hours=hours),
        etd=T0 + timedelta(hours=hours, minutes=20),
    )


def _order(threads: dict[str, NeedThread]) -> DispatchOrderIssued:
    yaan, _lushan, water = _ids(threads)
    return DispatchOrderIssued(
        order_id="O-7",
        plan_id="P-3",
        vehicle_id="V-truck-12",
        reservation_ids=["R-1", "R-2"],
        stops=[
            _stop("load", "N-chengdu", 26000, 0),
            _stop("unload", "N-yaan", 12000, 3, yaan),
            _stop("unload", "N-yaan", 8000, 3.5, yaan),
            _stop("unload", "N-lushan", 6000, 5, water, "water"),
            _stop("unload", "N-lushan", 500, 5, "N-not-from-rm", "tents"),
        ],
        release_at=T0 + timedelta(hours=6),
    )


def test_a_dispatch_order_commits_per_request_thread_citing_it(
    threads: dict[str, NeedThread],
) -> None:
    yaan, _, water = _ids(threads)
    messages = edxl_rm.commit_for_order(_order(threads), threads, sent=T0)
    assert [m.message_type for m in messages] == ["CommitResource"] * 2
    by_origin = {m.threads[0].originating_message_id: m for m in messages}
    yaan_msg = edxl_rm.parse_message(by_origin["YAAN-REQ-0001"].xml)
    assert yaan_msg.originating_id == "YAAN-REQ-0001"
    assert yaan_msg.preceding_ids == ("YAAN-REQ-0001",)
    [item] = yaan_msg.resources
    response = item.one("ResponseInformation")
    assert response.text_of("PrecedingResourceInfoElementID") == "1"
    assert response.text_of("ResponseType") == "Accept"
    amount = item.one("AssignmentInformation").one("Quantity").one("MeasuredQuantity")
    assert amount.text_of("Amount") == "20000"  # both unload stops for the need
    assert item.one("AssignmentInformation").text_of("OrderID") == "O-7"
    schedule = item.one("ScheduleInformation")
    assert schedule.text_of("ScheduleType") == "EstimatedArrival"
    assert schedule.text_of("DateTime") == "2026-05-12T13:00:00+00:00"
    assert schedule.one("Location").text_of("LocationDescription") == "N-yaan"
    water_msg = edxl_rm.parse_message(by_origin["LUSHAN-REQ-0006"].xml)
    assert water_msg.preceding_ids == ("LUSHAN-REQN-0007",)
    # threads move on: the next message about these needs follows this one
    assert {t.need_id: t.last_message_id for m in messages for t in m.threads} == {
        yaan: by_origin["YAAN-REQ-0001"].message_id,
        water: by_origin["LUSHAN-REQ-0006"].message_id,
    }


def test_commit_message_ids_are_stable_for_the_same_order(threads: dict[str, NeedThread]) -> None:
    a = edxl_rm.commit_for_order(_order(threads), threads, sent=T0)
    b = edxl_rm.commit_for_order(_order(threads), threads, sent=T0 + timedelta(minutes=5))
    assert [m.message_id for m in a] == [m.message_id for m in b]


def test_an_order_for_needs_that_did_not_come_over_edxl_rm_sends_nothing() -> None:
    order = DispatchOrderIssued(
        order_id="O-1",
        plan_id="P-1",
        vehicle_id="V-1",
        reservation_ids=[],
        stops=[_stop("unload", "N-yaan", 100, 1, "N-42")],
        release_at=T0,
    )
    assert edxl_rm.commit_for_order(order, {}, sent=T0) == []


def test_a_plan_commits_provisionally_and_declines_unserved_needs_with_the_reason(
    threads: dict[str, NeedThread],
) -> None:
    yaan, lushan, _ = _ids(threads)
    plan = PlanPublished(
        plan_id="P-3",
        version=3,
        request_id="PR-1",
        routes=[],
        needs=[
            NeedPlan(
                need_id=yaan,
                requested_kg=20000,
                served_kg=15000,
                status="partial",
                reason="no_stock",
                detail="medical stock exhausted in the Chengdu cluster",
                sources=[
                    NeedSource(
                        depot_id="D-chengdu",
                        vehicle_id="V-1",
                        quantity_kg=15000,
                        eta=T0 + timedelta(hours=3),
                    )
                ],
            ),
            NeedPlan(
                need_id=lushan,
                requested_kg=500,
                served_kg=0,
                status="unserved",
                reason="cut_off",
                detail="every road to N-lushan is closed",
            ),
        ],
        objective=1,
        solve_time_ms=5,
        kpis=PlanKpis(
            fill_rate=0.7,
            priority_weighted_fill=0.7,
            vehicles_used=1,
            distance_km=100,
            served_kg_by_priority={},
            requested_kg_by_priority={},
        ),
        plan_hash="x",
    )
    [message] = edxl_rm.commit_for_plan(plan, threads, {yaan: "medical", lushan: "tents"}, sent=T0)
    parsed = edxl_rm.parse_message(message.xml)
    partial, declined = parsed.resources
    assert partial.one("ResponseInformation").text_of("ResponseType") == "Provisional"
    assert "15000 of 20000 kg" in partial.one("ResponseInformation").text_of("ResponseReason")
    response = declined.one("ResponseInformation")
    assert response.text_of("ResponseType") == "Decline"
    assert response.one("ReasonCode").text_of("Value") == "cut_off"
    assert response.text_of("ResponseReason") == "every road to N-lushan is closed"
    assert declined.opt("AssignmentInformation") is None


@pytest.mark.parametrize(
    ("stage", "status", "schedule"),
    [
        ("loaded", "InTransit", "Current"),
        ("unloaded", "Delivered", "ActualArrival"),
        ("broken_down", "Interrupted", "Current"),
    ],
)
def test_delivery_progress_is_reported_per_thread(
    threads: dict[str, NeedThread], stage: str, status: str, schedule: str
) -> None:
    yaan, _, _ = _ids(threads)
    progress = OrderProgressReported(
        order_id="O-7",
        vehicle_id="V-truck-12",
        stage=stage,
        node_id="N-yaan",
        cargo=[Cargo(depot_id="D-chengdu", need_id=yaan, commodity="medical", quantity_kg=12000)],
    )
    [message] = edxl_rm.deployment_status(progress, threads, sent=T0, cause_id="evt-1")
    parsed = edxl_rm.parse_message(message.xml)
    assert parsed.message_type == "ReportResourceDeploymentStatus"
    assert parsed.originating_id == "YAAN-REQ-0001"
    [item] = parsed.resources
    deployment = item.one("Resource").one("ResourceStatus").one("DeploymentStatus")
    assert (deployment.text_of("ValueListURN"), deployment.text_of("Value")) == (
        edxl_rm.STATUS_LIST,
        status,
    )
    assert item.one("ScheduleInformation").text_of("ScheduleType") == schedule
    assert (
        item.one("AssignmentInformation").one("Quantity").one("MeasuredQuantity").text_of("Amount")
        == "12000"
    )


def test_a_completed_order_reports_every_need_it_served(threads: dict[str, NeedThread]) -> None:
    yaan, _, water = _ids(threads)
    progress = OrderProgressReported(
        order_id="O-7", vehicle_id="V-truck-12", stage="completed", node_id="N-lushan"
    )
    assert edxl_rm.deployment_status(progress, threads, sent=T0, cause_id="e") == []
    messages = edxl_rm.deployment_status(
        progress, threads, sent=T0, cause_id="e", order=_order(threads)
    )
    reported = {t.need_id for m in messages for t in m.threads}
    assert reported == {yaan, water}
    for m in messages:
        assert b"<rm:Value>Completed</rm:Value>" in m.xml


def test_the_thread_continues_from_commit_to_status(threads: dict[str, NeedThread]) -> None:
    yaan, _, _ = _ids(threads)
    [commit] = [
        m
        for m in edxl_rm.commit_for_order(_order(threads), threads, sent=T0)
        if m.threads[0].originating_message_id == "YAAN-REQ-0001"
    ]
    advanced = {t.need_id: t for t in commit.threads}
    progress = OrderProgressReported(
        order_id="O-7", vehicle_id="V-truck-12", stage="unloaded", node_id="N-yaan",
        cargo=[Cargo(depot_id="D-chengdu", need_id=yaan, commodity="medical", quantity_kg=1)],
    )  # fmt: skip
    [status] = edxl_rm.deployment_status(progress, advanced, sent=T0, cause_id="e2")
    assert edxl_rm.parse_message(status.xml).preceding_ids == (commit.message_id,)


def test_messages_we_send_use_the_standard_namespaces() -> None:
    thread = NeedThread("N-1", "REQ-1", "REQ-1", "1")
    order = DispatchOrderIssued(
        order_id="O-1",
        plan_id="P-1",
        vehicle_id="V-1",
        reservation_ids=[],
        stops=[_stop("unload", "N-yaan", 100, 1, "N-1")],
        release_at=T0,
    )
    [message] = edxl_rm.commit_for_order(order, {"N-1": thread}, sent=T0)
    root = parse(message.xml, root_label="x")
    assert (root.ns, root.name) == (edxl_rm.RM_MSG_NS, "CommitResource")
    assert message.xml.startswith(b"<?xml")


async def test_the_in_memory_thread_store_returns_only_known_threads() -> None:
    store = InMemoryThreadStore()
    a, b = NeedThread("A", "R", "R", "1"), NeedThread("B", "R", "R", "2")
    await store.save([a, b])
    await store.save([NeedThread("A", "R", "C-1", "1")])
    found = await store.get_many(["A", "Z"])
    assert list(found) == ["A"]
    assert found["A"].last_message_id == "C-1"
