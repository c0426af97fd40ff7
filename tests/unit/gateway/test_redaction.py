"""The classification filter, tested directly: what a civil caller may see of a plan, and
which bus events may be forwarded to an external subscriber."""

from __future__ import annotations

from typing import Any

from contracts import dispatch as d
from contracts import transport as tr
from contracts.common import Owner
from contracts.envelope import Classification, Envelope
from contracts.incidents import NeedRaised, NeedRaisedV1
from contracts.transport import LinkStatusChanged
from services.gateway.redaction import (
    Hidden,
    hidden_for,
    redact_plan,
    redact_reason,
    screen_event,
)
from tests.unit.gateway.samples import NEEDS, T0, plan, plan_v1

CIVIL = hidden_for(
    "public",
    [(n["need_id"], n["classification"], n["priority"]) for n in NEEDS],
    [("V-CIV", "civil"), ("V-MIL", "military")],
    [("D-CIV", "civil"), ("D-MIL", "military")],
)


def _mentions(p: object, ident: str) -> bool:
    return ident in p.model_dump_json()  # type: ignore[attr-defined]


def test_the_civil_caller_is_denied_exactly_the_military_needs_vehicles_and_depots() -> None:
    assert dict(CIVIL.needs) == {"NM-FUEL": "life_saving"}
    assert CIVIL.vehicles == {"V-MIL"}
    assert CIVIL.depots == {"D-MIL"}


def test_a_military_caller_sees_the_plan_unchanged() -> None:
    military = hidden_for(
        "military", [("NM-FUEL", "military", "routine")], [("V-MIL", "military")], []
    )
    assert not military
    assert redact_plan(plan(1), military) == plan(1)


def test_a_civil_caller_sees_no_military_vehicle_need_or_depot_anywhere_in_the_plan() -> None:
    shown = redact_plan(plan(1), CIVIL)
    for secret in ("V-MIL", "NM-FUEL", "D-MIL"):
        assert not _mentions(shown, secret), secret


def test_the_military_route_goes_and_the_civil_route_keeps_only_civil_legs() -> None:
    shown = redact_plan(plan(1), CIVIL)
    assert [r.vehicle_id for r in shown.routes] == ["V-CIV"]
    stops = shown.routes[0].stops
    # The dual-use fuel load at the military depot is a military leg: it goes, and so does
    # the need it serves from the civil caller's sources (the need itself is public).
    assert [(s.action, s.need_id, s.depot_id) for s in stops] == [
        ("load", "N-MED", "D-CIV"),
        ("unload", "N-MED", None),
        ("unload", "N-FUEL", None),
    ]
    fuel = next(n for n in shown.needs if n.need_id == "N-FUEL")
    assert fuel.sources == []
    assert [n.need_id for n in shown.needs] == ["N-MED", "N-FUEL", "N-TENTS"]


def test_links_travelled_to_a_removed_stop_are_folded_into_the_next_visible_stop() -> None:
    shown = redact_plan(plan(1), Hidden(depots=frozenset({"D-CIV"})))
    fuel_load = shown.routes[0].stops[0]
    assert fuel_load.depot_id == "D-MIL"
    original = plan(1).routes[0].stops
    assert fuel_load.via_links == [*original[0].via_links, *original[1].via_links]


def test_kpis_are_recomputed_so_totals_do_not_betray_what_was_removed() -> None:
    shown = redact_plan(plan(1), CIVIL)
    assert shown.kpis.vehicles_used == 1
    assert shown.kpis.distance_km == 100
    assert shown.kpis.requested_kg_by_priority == {"life_saving": 10_000, "sustaining": 25_000}
    assert shown.kpis.served_kg_by_priority == {"life_saving": 10_000, "sustaining": 5_000}
    assert shown.kpis.fill_rate == 15_000 / 35_000
    assert shown.plan_hash == plan(1).plan_hash


def test_the_physical_limit_is_withheld_when_anything_is_hidden() -> None:
    # The limit counts the hidden needs, vehicles and depots; it cannot be recomputed without.
    shown = redact_plan(plan(1), CIVIL)
    assert isinstance(shown.kpis, d.PlanKpisV2)
    assert (shown.kpis.weighted_bound_kg, shown.kpis.served_fraction_of_bound) == (None, None)
    military = hidden_for("military", [], [], [])
    assert redact_plan(plan(1), military).kpis == plan(1).kpis


def test_a_v1_plan_from_an_older_recording_is_redacted_the_same_way() -> None:
    shown = redact_plan(plan_v1(1), CIVIL)
    assert type(shown.kpis) is d.PlanKpis
    assert shown.model_dump(exclude={"kpis"}) == redact_plan(plan(1), CIVIL).model_dump(
        exclude={"kpis"}
    )
    assert shown.kpis.fill_rate == 15_000 / 35_000


def test_a_route_left_delivering_nothing_visible_is_removed() -> None:
    only_military = Hidden(needs={"N-MED": "life_saving", "N-FUEL": "sustaining"})
    assert [r.vehicle_id for r in redact_plan(plan(1), only_military).routes] == ["V-MIL"]


def test_reason_parts_naming_something_hidden_are_dropped() -> None:
    reason = "link L-ab closed; need NM-FUEL raised; depot D-MIL operational"
    assert redact_reason(reason, CIVIL) == "link L-ab closed"


# --- events forwarded to external subscribers -----------------------------------------------


def _env(cls: type[Envelope], data: Any, classification: Classification = "public") -> Any:
    return cls(
        id=f"e-{cls.__name__}",
        source="urn:test",
        time=T0,
        subject="",
        correlationid="c",
        classification=classification,
        data=data,
    )


def _need(need_id: str) -> NeedRaised:
    return NeedRaised(
        need_id=need_id,
        node_id="N-b",
        commodity="fuel",
        quantity=5,
        priority="life_saving",
        deadline=T0,
    )


def _asset(asset_id: str, owner: Owner) -> tr.AssetRegistered:
    return tr.AssetRegistered(
        asset_id=asset_id, mode="road", capacity_t=20, speed_kmh=60, home_node_id="N-a", owner=owner
    )


def test_an_event_above_the_clearance_is_dropped_and_its_need_hidden_from_then_on() -> None:
    raised = screen_event(_env(NeedRaisedV1, _need("NM-2"), "military"), "public", Hidden())
    assert raised.event is None
    assert "NM-2" in raised.hidden.needs
    # a later public event naming it (say, a reservation for it) is dropped as well
    request = d.ReservationRequested(
        reservation_id="R-9",
        plan_id="P9",
        depot_id="D-CIV",
        need_id="NM-2",
        commodity="fuel",
        quantity_kg=5_000,
    )
    later = screen_event(_env(d.ReservationRequestedV1, request), "public", raised.hidden)
    assert later.event is None
    # only the need was learnt: the civil depot it draws on stays visible
    assert "D-CIV" not in later.hidden.depots
    assert screen_event(_env(NeedRaisedV1, _need("NM-2"), "military"), "military", Hidden()).event


def test_a_military_vehicle_is_hidden_from_its_registration_even_on_a_public_envelope() -> None:
    registered = screen_event(
        _env(tr.AssetRegisteredV1, _asset("V-MIL2", "military")), "restricted", Hidden()
    )
    assert registered.event is None
    assert registered.hidden.vehicles == {"V-MIL2"}
    status = tr.AssetStatusChanged(asset_id="V-MIL2", status="assigned", node_id="N-a")
    assert (
        screen_event(_env(tr.AssetStatusChangedV1, status), "restricted", registered.hidden).event
        is None
    )
    civil = screen_event(_env(tr.AssetRegisteredV1, _asset("V-CIV2", "civil")), "public", Hidden())
    assert civil.event is not None
    assert not civil.hidden


def test_a_public_event_naming_a_hidden_depot_is_dropped_but_a_lookalike_id_is_not() -> None:
    cut = LinkStatusChanged(link_id="L-ab", status="closed", cause="fire at D-MIL")
    assert screen_event(_env(tr.LinkStatusChangedV1, cut), "public", CIVIL).event is None
    lookalike = LinkStatusChanged(link_id="L-ab", status="closed", cause="fire at D-MIL-2")
    assert screen_event(_env(tr.LinkStatusChangedV1, lookalike), "public", CIVIL).event is not None


def test_a_public_plan_is_forwarded_redacted_and_a_military_one_not_at_all() -> None:
    public = screen_event(_env(d.PlanPublishedV2, plan(2)), "public", CIVIL)
    assert isinstance(public.event, d.PlanPublishedV2)
    assert public.event.data == redact_plan(plan(2), CIVIL)
    for secret in ("V-MIL", "NM-FUEL", "D-MIL"):
        assert secret not in public.event.model_dump_json()
    military = screen_event(_env(d.PlanPublishedV2, plan(2), "military"), "restricted", CIVIL)
    assert military.event is None
    cleared = screen_event(_env(d.PlanPublishedV2, plan(2), "military"), "military", Hidden())
    assert cleared.event is not None
    assert cleared.event.model_dump_json().count("V-MIL") > 0


def test_a_v1_plan_is_still_forwarded_redacted() -> None:
    public = screen_event(_env(d.PlanPublishedV1, plan_v1(2)), "public", CIVIL)
    assert isinstance(public.event, d.PlanPublishedV1)
    assert public.event.data == redact_plan(plan_v1(2), CIVIL)
    for secret in ("V-MIL", "NM-FUEL", "D-MIL"):
        assert secret not in public.event.model_dump_json()
