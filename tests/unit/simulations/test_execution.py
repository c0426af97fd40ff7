"""The execution simulator: vehicles keep their timetable and carry only what they load."""

from datetime import UTC, datetime, timedelta

from contracts.dispatch import DispatchOrderIssued, DispatchOrderIssuedV1, PlannedStop
from contracts.execution import OrderProgressReportedV1
from contracts.transport import AssetStatusChangedV1
from simulations.execution import Fleet

T0 = datetime(2026, 5, 12, 6, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def stop(action: str, node: str, h: float, qty: int, depot: str | None, need: str) -> PlannedStop:
    return PlannedStop(
        node_id=node,
        action=action,  # type: ignore[arg-type]
        depot_id=depot,
        need_id=need,
        commodity="water",
        quantity_kg=qty,
        eta=at(h),
        etd=at(h + 0.5),
    )


def order(
    stops: list[PlannedStop], vehicle: str = "A-1", classification: str = "public"
) -> DispatchOrderIssuedV1:
    return DispatchOrderIssuedV1.model_validate(
        {
            "id": f"evt-{vehicle}",
            "source": "/test",
            "time": T0,
            "subject": vehicle,
            "correlationid": "run",
            "mode": "exercise",
            "classification": classification,
            "data": DispatchOrderIssued(
                order_id=f"P1/{vehicle}",
                plan_id="P1",
                vehicle_id=vehicle,
                reservation_ids=["r"],
                stops=stops,
                release_at=stops[-1].etd,
            ),
        }
    )


def progress(events: list) -> list[tuple[str, float, list[tuple[str, str, int]]]]:
    out = []
    for e in events:
        assert isinstance(e.event, OrderProgressReportedV1)
        d = e.event.data
        hours = (e.at - T0).total_seconds() / 3600
        out.append((d.stage, hours, [(c.depot_id, c.need_id, c.quantity_kg) for c in d.cargo]))
    return out


def test_a_vehicle_loads_at_departure_unloads_on_arrival_and_completes_at_release() -> None:
    fleet = Fleet(T0, "run")
    fleet.dispatch(
        [
            order(
                [
                    stop("load", "N-a", 0, 8000, "D-1", "NEED-1"),
                    stop("unload", "N-b", 2, 8000, None, "NEED-1"),
                ]
            )
        ]
    )
    assert fleet.next_time() == at(0.5)
    events = fleet.advance()
    assert progress(events) == [
        ("loaded", 0.5, [("D-1", "NEED-1", 8000)]),
        ("unloaded", 2.0, [("D-1", "NEED-1", 8000)]),
        ("completed", 2.5, []),
    ]
    assert fleet.next_time() is None


def test_an_unload_hands_over_only_what_was_loaded_for_that_need() -> None:
    # The order's unload stop says 12 t but only 5 t were reserved and loaded for the need.
    fleet = Fleet(T0, "run")
    fleet.dispatch(
        [
            order(
                [
                    stop("load", "N-a", 0, 5000, "D-1", "NEED-1"),
                    stop("unload", "N-b", 2, 12000, None, "NEED-1"),
                ]
            )
        ]
    )
    unloaded = [p for p in progress(fleet.advance()) if p[0] == "unloaded"]
    assert unloaded == [("unloaded", 2.0, [("D-1", "NEED-1", 5000)])]


def test_a_breakdown_en_route_reports_the_cargo_still_aboard_and_nothing_after() -> None:
    fleet = Fleet(T0, "run")
    fleet.dispatch(
        [
            order(
                [
                    stop("load", "N-a", 0, 8000, "D-1", "NEED-1"),
                    stop("load", "N-a", 0.5, 4000, "D-2", "NEED-2"),
                    stop("unload", "N-b", 2, 8000, None, "NEED-1"),
                    stop("unload", "N-c", 4, 4000, None, "NEED-2"),
                ]
            )
        ]
    )
    first = fleet.advance(at(3))
    fleet.break_down("A-1", repair_h=5)
    later = fleet.advance(at(3))
    assert [p[0] for p in progress(first)] == ["loaded", "loaded", "unloaded"]
    assert progress(later) == [("broken_down", 3.0, [("D-2", "NEED-2", 4000)])]
    assert fleet.next_repair() == at(8)
    repaired = fleet.advance()
    assert len(repaired) == 1
    assert isinstance(repaired[0].event, AssetStatusChangedV1)
    assert repaired[0].event.data.status == "available"
    assert repaired[0].at == at(8)
    assert fleet.next_repair() is None


def test_an_idle_vehicle_that_breaks_down_is_reported_in_maintenance_and_its_next_order_fails() -> (
    None
):
    fleet = Fleet(T0, "run", classification={"A-9": "military"})
    fleet.advance(at(1))
    fleet.break_down("A-9")
    [status] = fleet.advance(at(1))
    assert isinstance(status.event, AssetStatusChangedV1)
    assert (status.event.data.status, status.event.classification) == ("maintenance", "military")
    fleet.dispatch([order([stop("load", "N-a", 2, 1000, "D-1", "NEED-1")], vehicle="A-9")])
    assert [p[0] for p in progress(fleet.advance(at(1)))] == ["broken_down"]


def test_reports_are_as_secret_as_the_order_or_the_vehicle_and_ids_are_stable() -> None:
    def run() -> list:
        fleet = Fleet(T0, "run-x", classification={"A-1": "public"})
        fleet.dispatch(
            [order([stop("load", "N-a", 0, 1000, "D-1", "N-1")], classification="military")]
        )
        return fleet.advance()

    first, second = run(), run()
    assert {e.event.classification for e in first} == {"military"}
    assert [e.event.id for e in first] == [e.event.id for e in second]
    assert len({e.event.id for e in first}) == len(first)


def test_an_order_seen_twice_is_driven_once() -> None:
    fleet = Fleet(T0, "run")
    o = order([stop("load", "N-a", 0, 1000, "D-1", "NEED-1")])
    fleet.dispatch([o])
    fleet.dispatch([o])
    assert [p[0] for p in progress(fleet.advance())] == ["loaded", "completed"]
