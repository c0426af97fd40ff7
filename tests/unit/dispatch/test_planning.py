"""From the read model to a routing problem, and from a plan to reservations and a hash."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.domain.planning import (
    ALL_CLEARANCES,
    CIVIL_CLEARANCES,
    AssetRow,
    DepotRow,
    HeldStock,
    LinkRow,
    NeedRow,
    NodeRow,
    PendingReservation,
    ReservationLine,
    Snapshot,
    build_problem,
    carry_over,
    plan_hash,
    reservation_lines,
)
from services.dispatch.routing.plan import Allocation, LogisticsPlan, PlanKpis

NOW = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)


def need(
    need_id: str, deadline: datetime, remaining_kg: int = 1000, commodity: str = "water"
) -> NeedRow:
    return NeedRow(need_id, "B", commodity, remaining_kg, "life_saving", deadline, 0, "public")


def asset(
    asset_id: str,
    owner: str = "civil",
    status: str = "available",
    busy_until: datetime | None = None,
) -> AssetRow:
    return AssetRow(asset_id, "road", 10_000, 60.0, owner, status, "A", busy_until)


def snapshot(needs: tuple[NeedRow, ...] = (), assets: tuple[AssetRow, ...] = ()) -> Snapshot:
    return Snapshot(
        now=NOW,
        nodes=(
            NodeRow("A", "Alpha", 30.0, 103.0, "open"),
            NodeRow("B", "Beta", 30.0, 103.5, "lost"),
        ),
        links=(
            LinkRow("AB", "A", "B", "road", 48.2, "degraded", 0.5),
            LinkRow("AB-rail", "A", "B", "rail", 50.0, "open", 0.3),
        ),
        depots=(DepotRow("D", "A", "civil", "operational", (("water", 5000),)),),
        assets=assets,
        needs=needs,
    )


def test_stock_held_for_pending_legs_is_available_to_the_new_plan() -> None:
    """Reserves' levels already lack what it holds for legs of earlier plans not yet orders;
    the new plan keeps or releases each of them, so it may plan with that stock."""
    s = snapshot()
    held = (
        HeldStock("D", "water", 3000),
        HeldStock("D", "water", 500),
        HeldStock("D", "grain", 700),  # a line the levels show at nothing (or not at all)
        HeldStock("D-gone", "water", 900),  # a depot the read model no longer has
    )
    problem, _ = build_problem(replace(s, held=held))
    [depot] = problem.depots
    assert depot.stock_kg == {"water": 8500, "grain": 700}
    problem, _ = build_problem(s)
    assert problem.depots[0].stock_kg == {"water": 5000}


def test_needs_past_their_deadline_are_dropped_and_returned_as_expired() -> None:
    late = need("late", NOW - timedelta(minutes=1))
    due_now = need("due-now", NOW)
    live = need("live", NOW + timedelta(hours=2))
    problem, expired = build_problem(snapshot(needs=(late, due_now, live)))
    assert [n.need_id for n in expired] == ["late", "due-now"]
    assert [n.id for n in problem.needs] == ["live"]
    assert problem.needs[0].deadline_s == 7200
    assert problem.needs[0].quantity_kg == 1000


def test_needs_already_fully_covered_are_left_out_without_being_expired() -> None:
    done = need("done", NOW + timedelta(hours=1), remaining_kg=0)
    problem, expired = build_problem(snapshot(needs=(done,)))
    assert problem.needs == ()
    assert expired == []


def test_military_vehicles_get_military_clearance_and_civil_ones_do_not() -> None:
    problem, _ = build_problem(snapshot(assets=(asset("mil", owner="military"), asset("civ"))))
    clearance = {v.id: v.clearance for v in problem.vehicles}
    assert clearance["mil"] == ALL_CLEARANCES
    assert "military" in clearance["mil"]
    assert clearance["civ"] == CIVIL_CLEARANCES
    assert "military" not in clearance["civ"]


def test_an_assigned_vehicle_becomes_available_at_busy_until() -> None:
    busy = asset("busy", status="assigned", busy_until=NOW + timedelta(minutes=90))
    overdue = asset("overdue", status="assigned", busy_until=NOW - timedelta(minutes=5))
    problem, _ = build_problem(snapshot(assets=(busy, overdue, asset("free"))))
    available = {v.id: v.available_from_s for v in problem.vehicles}
    assert available == {"busy": 5400, "overdue": 0, "free": 0}


@pytest.mark.parametrize(
    "row",
    [
        asset("broken", status="out_of_service"),
        asset("unknown-end", status="assigned", busy_until=None),
    ],
)
def test_vehicles_that_cannot_take_a_task_are_left_out(row: AssetRow) -> None:
    problem, _ = build_problem(snapshot(assets=(row,)))
    assert problem.vehicles == ()


def test_links_keep_their_factor_only_when_degraded_and_lost_nodes_are_unusable() -> None:
    problem, _ = build_problem(snapshot())
    factors = {link.id: (link.state, link.speed_factor, link.length_m) for link in problem.links}
    assert factors == {"AB": ("degraded", 0.5, 48_200), "AB-rail": ("open", 1.0, 50_000)}
    assert {n.id: n.usable for n in problem.nodes} == {"A": True, "B": False}


def plan(*allocations: Allocation) -> LogisticsPlan:
    kpis = PlanKpis({}, {}, 1.0, 1.0, 0, 0, 0)
    return LogisticsPlan((), allocations, (), kpis, True)


def test_reservation_lines_aggregate_allocations_per_vehicle_depot_and_need() -> None:
    needs = {
        "n1": need("n1", NOW + timedelta(hours=5)),
        "n2": need("n2", NOW + timedelta(hours=5), commodity="tents"),
    }
    p = plan(
        Allocation("n1", "D1", "V1", 400, 3600),
        Allocation("n1", "D1", "V1", 600, 5400),
        Allocation("n1", "D2", "V1", 100, 1800),
        Allocation("n2", "D1", "V2", 50, 600),
    )
    lines = reservation_lines(p, "P1", NOW, needs)
    summary = [(x.reservation_id, x.commodity, x.quantity_kg, x.eta) for x in lines]
    assert summary == [
        ("P1/V1/D1/n1", "water", 1000, NOW + timedelta(seconds=5400)),
        ("P1/V1/D2/n1", "water", 100, NOW + timedelta(seconds=1800)),
        ("P1/V2/D1/n2", "tents", 50, NOW + timedelta(seconds=600)),
    ]
    assert [(x.vehicle_id, x.depot_id, x.need_id) for x in lines] == [
        ("V1", "D1", "n1"),
        ("V1", "D2", "n1"),
        ("V2", "D1", "n2"),
    ]


def test_reservation_lines_do_not_depend_on_allocation_order() -> None:
    needs = {"n1": need("n1", NOW + timedelta(hours=5))}
    allocations = [
        Allocation("n1", "D1", "V1", 400, 3600),
        Allocation("n1", "D2", "V2", 600, 5400),
        Allocation("n1", "D1", "V1", 100, 1800),
    ]
    forward = reservation_lines(plan(*allocations), "P1", NOW, needs)
    backward = reservation_lines(plan(*reversed(allocations)), "P1", NOW, needs)
    assert forward == backward


def _line(vehicle: str, depot: str, need: str, kg: int, plan: str = "P2") -> ReservationLine:
    return ReservationLine(
        f"{plan}/{vehicle}/{depot}/{need}", vehicle, need, depot, "water", kg, NOW
    )


def _pending(vehicle: str, depot: str, need: str, kg: int) -> PendingReservation:
    return PendingReservation(
        f"P1/{vehicle}/{depot}/{need}", "P1", vehicle, need, depot, "water", kg
    )


def test_a_new_plan_keeps_pending_reservations_it_asks_for_unchanged_and_releases_the_rest() -> (
    None
):
    pending = [
        _pending("V-1", "D-1", "N-1", 5_000),  # asked again as it is: kept
        _pending("V-1", "D-1", "N-2", 2_000),  # asked again for another quantity: released
        _pending("V-2", "D-1", "N-1", 3_000),  # now on another vehicle: released
        _pending("V-3", "D-2", "N-3", 1_000),  # not in the new plan: released
    ]
    lines = [
        _line("V-1", "D-1", "N-1", 5_000),
        _line("V-1", "D-1", "N-2", 2_500),
        _line("V-4", "D-1", "N-1", 3_000),
        _line("V-1", "D-3", "N-4", 700),  # a new leg for a kept vehicle
    ]
    change = carry_over(pending, lines)
    assert change.kept == [("P1/V-1/D-1/N-1", lines[0])]
    assert [p.reservation_id for p in change.superseded] == [
        "P1/V-1/D-1/N-2",
        "P1/V-2/D-1/N-1",
        "P1/V-3/D-2/N-3",
    ]
    assert change.new == lines[1:]


def test_without_pending_reservations_every_line_is_new() -> None:
    lines = [_line("V-1", "D-1", "N-1", 5_000)]
    change = carry_over([], lines)
    assert (change.kept, change.superseded, change.new) == ([], [], lines)


def test_plan_hash_does_not_depend_on_dict_key_order() -> None:
    one = {"plan": "P1", "routes": [{"vehicle": "V1", "kg": 10}], "needs": {"a": 1, "b": 2}}
    two = {"needs": {"b": 2, "a": 1}, "routes": [{"kg": 10, "vehicle": "V1"}], "plan": "P1"}
    assert plan_hash(one) == plan_hash(two)
    assert len(plan_hash(one)) == 64


def test_plan_hash_changes_when_the_content_changes() -> None:
    base = {"routes": [{"vehicle": "V1", "kg": 10}, {"vehicle": "V2", "kg": 5}]}
    more = {"routes": [{"vehicle": "V1", "kg": 11}, {"vehicle": "V2", "kg": 5}]}
    swapped = {"routes": [{"vehicle": "V2", "kg": 5}, {"vehicle": "V1", "kg": 10}]}
    assert plan_hash(base) != plan_hash(more)
    assert plan_hash(base) != plan_hash(swapped)  # route order is content


def test_plan_hash_accepts_datetimes() -> None:
    assert plan_hash({"eta": NOW}) == plan_hash({"eta": NOW})
    assert plan_hash({"eta": NOW}) != plan_hash({"eta": NOW + timedelta(seconds=1)})
