"""The classification filter, tested directly: what a civil caller may see of a plan."""

from __future__ import annotations

from services.gateway.redaction import Hidden, hidden_for, redact_plan, redact_reason
from tests.unit.gateway.samples import NEEDS, plan

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


def test_a_route_left_delivering_nothing_visible_is_removed() -> None:
    only_military = Hidden(needs={"N-MED": "life_saving", "N-FUEL": "sustaining"})
    assert [r.vehicle_id for r in redact_plan(plan(1), only_military).routes] == ["V-MIL"]


def test_reason_parts_naming_something_hidden_are_dropped() -> None:
    reason = "link L-ab closed; need NM-FUEL raised; depot D-MIL operational"
    assert redact_reason(reason, CIVIL) == "link L-ab closed"
