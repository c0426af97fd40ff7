"""After-action KPIs on small hand-built runs whose answers are worked out by hand."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts.catalogue import Event
from contracts.dispatch import (
    DispatchOrderIssuedV1,
    PlanPublishedEvent,
    PlanPublishedV1,
    PlanPublishedV2,
    PlanRequestedV1,
)
from contracts.execution import OrderProgressReportedV1
from contracts.incidents import DisruptionReportedV1, NeedRaisedV1
from contracts.reserves import DepotRegisteredV1, StockLevelReportedV1
from contracts.transport import (
    AssetRegisteredV1,
    DisruptionAppliedV1,
    LinkRegisteredV1,
    LinkStatusChangedV1,
    NodeRegisteredV1,
)
from simulations.aar.kpis import (
    NEVER_PLANNED,
    NOT_DELIVERED_BY_END,
    VEHICLE_BROKE_DOWN,
    DeadLetter,
    RunMeta,
    compute_kpis,
    percentile,
)

T0 = datetime.fromisoformat("2026-05-12T06:00:00+00:00")
SCENARIO = "/hinterland/exercise/aar-test"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


class Run:
    """Builds envelopes with the contract classes; ids are stable (e<n>)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(
        self,
        cls: type[Any],
        hours: float,
        data: dict[str, Any],
        *,
        source: str = SCENARIO,
        cause: str | None = None,
        event_id: str | None = None,
        subject: str = "",
    ) -> Any:
        evt = cls.model_validate(
            {
                "id": event_id or f"e{len(self.events) + 1}",
                "source": source,
                "time": at(hours),
                "subject": subject,
                "correlationid": "aar-test",
                "causationid": cause,
                "mode": "exercise",
                "data": data,
            }
        )
        self.events.append(evt)
        return evt


def stop(
    node: str,
    action: str,
    kg: int,
    eta_h: float,
    *,
    need: str,
    via: Sequence[str] = (),
    commodity: str = "water",
) -> dict[str, Any]:
    return {
        "node_id": node,
        "action": action,
        "depot_id": "D-A",
        "need_id": need,
        "commodity": commodity,
        "quantity_kg": kg,
        "eta": at(eta_h),
        "etd": at(eta_h),
        "via_links": list(via),
    }


def need_plan(
    need: str, requested: int, served: int, status: str, sources: Sequence[str], **kw: Any
) -> dict[str, Any]:
    return {
        "need_id": need,
        "requested_kg": requested,
        "served_kg": served,
        "status": status,
        "sources": [
            {"depot_id": "D-A", "vehicle_id": v, "quantity_kg": max(1, served), "eta": T0}
            for v in sources
        ],
        **kw,
    }


def plan(
    version: int, request_id: str, routes: dict[str, list[dict[str, Any]]], needs: list[Any]
) -> dict[str, Any]:
    return {
        "plan_id": f"P{version}",
        "version": version,
        "request_id": request_id,
        "routes": [{"vehicle_id": v, "stops": s, "distance_km": 1.0} for v, s in routes.items()],
        "needs": needs,
        "objective": 0,
        "solve_time_ms": 100 * version,
        "kpis": {
            "fill_rate": 0.5,
            "priority_weighted_fill": 0.5,
            "vehicles_used": len(routes),
            "distance_km": 1.0,
            "served_kg_by_priority": {},
            "requested_kg_by_priority": {},
            # read by v2 only (v1 ignores unknown fields)
            "weighted_bound_kg": 1000,
            "served_fraction_of_bound": version / 4,
        },
        "plan_hash": f"hash{version}",
    }


# Three nodes: A (depot, Sichuan), B (Sichuan), C (Chongqing). Road A-B 100 km, rail A-C
# 200 km, road B-C 150 km. V1 civil road truck, V2 military train, V3 civil truck.
O1_STOPS = [
    stop("N-A", "load", 10_000, 0, need="N1"),
    stop("N-B", "unload", 10_000, 4, need="N1", via=["L-AB"]),
]
O2_STOPS = [
    stop("N-A", "load", 20_000, 0, need="N2", commodity="grain"),
    stop("N-C", "unload", 20_000, 11, need="N2", via=["L-AC"], commodity="grain"),
]
O3_STOPS = [
    stop("N-A", "load", 5_000, 0, need="N3", commodity="tents"),
    stop("N-C", "unload", 5_000, 5, need="N3", via=["L-AB", "L-BC"], commodity="tents"),
]


def base_run(published: type[PlanPublishedEvent] = PlanPublishedV2) -> Run:
    """Plan v1 serves N1 (V1), N2 (V2, late) and N3 (V3, never ordered); N4 is never planned.

    A disruption at +2 h closes B-C; plan v2 (+2.5 h) re-plans N3 on V3 and V1, partly, for
    lack of transport. Orders exist for V1 and V2 only. ``published``: the plans' contract
    version (v1 as in recordings made before dispatch published v2).
    """
    r = Run()
    for node, lat, lon, region in [
        ("N-A", 30.0, 104.0, "Sichuan"),
        ("N-B", 30.0, 103.0, "Sichuan"),
        ("N-C", 31.0, 105.0, "Chongqing"),
    ]:
        r.add(
            NodeRegisteredV1,
            0,
            {
                "node_id": node,
                "name": node,
                "kind": "city",
                "lat": lat,
                "lon": lon,
                "region": region,
            },
        )
    for link, a, b, mode, km in [
        ("L-AB", "N-A", "N-B", "road", 100),
        ("L-AC", "N-A", "N-C", "rail", 200),
        ("L-BC", "N-B", "N-C", "road", 150),
    ]:
        r.add(
            LinkRegisteredV1,
            0,
            {
                "link_id": link,
                "a": a,
                "b": b,
                "mode": mode,
                "length_km": km,
                "capacity_t_per_day": 1e4,
            },
        )
    for asset, mode, owner in [
        ("V1", "road", "civil"),
        ("V2", "rail", "military"),
        ("V3", "road", "civil"),
    ]:
        r.add(
            AssetRegisteredV1,
            0,
            {
                "asset_id": asset,
                "mode": mode,
                "capacity_t": 20,
                "speed_kmh": 60,
                "home_node_id": "N-A",
                "owner": owner,
            },
        )
    r.add(
        DepotRegisteredV1,
        0,
        {"depot_id": "D-A", "name": "Depot A", "node_id": "N-A", "tier": "city", "owner": "civil"},
    )
    r.add(
        StockLevelReportedV1,
        0,
        {"depot_id": "D-A", "commodity": "water", "quantity": 50, "unit": "t"},
    )
    needs = [
        ("N1", "N-B", "water", 10, "life_saving", 6),
        ("N2", "N-C", "grain", 20, "sustaining", 10),
        ("N3", "N-C", "tents", 5, "routine", 12),
        ("N4", "N-B", "tents", 2, "routine", 12),
    ]
    for need, node, commodity, tonnes, priority, deadline_h in needs:
        r.add(
            NeedRaisedV1,
            0,
            {
                "need_id": need,
                "node_id": node,
                "commodity": commodity,
                "quantity": tonnes,
                "unit": "t",
                "priority": priority,
                "deadline": at(deadline_h),
            },
            event_id=f"raise-{need}",
            subject=need,
        )
    dispatch = "/hinterland/dispatch"
    r.add(
        PlanRequestedV1,
        0,
        {
            "request_id": "R1",
            "reason": "needs raised",
            "triggers": ["raise-N1", "raise-N2", "raise-N3"],
        },
        source=dispatch,
        cause="raise-N3",
    )
    r.add(
        published,
        0,
        plan(
            1,
            "R1",
            {"V1": O1_STOPS, "V2": O2_STOPS, "V3": O3_STOPS},
            [
                need_plan("N1", 10_000, 10_000, "served", ["V1"]),
                need_plan("N2", 20_000, 20_000, "served", ["V2"]),
                need_plan("N3", 5_000, 5_000, "served", ["V3"]),
            ],
        ),
        source=dispatch,
        cause="R1",
    )
    for order, vehicle, stops in [("O1", "V1", O1_STOPS), ("O2", "V2", O2_STOPS)]:
        r.add(
            DispatchOrderIssuedV1,
            0,
            {
                "order_id": order,
                "plan_id": "P1",
                "vehicle_id": vehicle,
                "reservation_ids": [f"res-{order}"],
                "stops": stops,
                "release_at": at(12),
            },
            source=dispatch,
            cause="R1",
        )
    r.add(
        DisruptionReportedV1,
        2,
        {
            "disruption_id": "DIS-1",
            "kind": "link_cut",
            "severity": 3,
            "observed_at": at(2),
            "links": ["L-BC"],
        },
        event_id="inj-1",
        subject="DIS-1",
    )
    transport = "/hinterland/transport"
    r.add(
        LinkStatusChangedV1,
        2,
        {"link_id": "L-BC", "status": "closed", "cause": "DIS-1"},
        source=transport,
        cause="inj-1",
    )
    applied = r.add(
        DisruptionAppliedV1,
        2,
        {"disruption_id": "DIS-1", "closed_links": ["L-BC"]},
        source=transport,
        cause="inj-1",
    )
    r.add(
        PlanRequestedV1,
        2 + 10 / 60,
        {"request_id": "R2", "reason": "disruption DIS-1 applied", "triggers": [applied.id]},
        source=dispatch,
        cause=applied.id,
    )
    r.add(
        published,
        2.5,
        plan(
            2,
            "R2",
            {"V3": O3_STOPS[:1] + O3_STOPS[1:], "V1": [stop("N-C", "unload", 1000, 9, need="N3")]},
            [
                need_plan(
                    "N3",
                    5_000,
                    3_000,
                    "partial",
                    ["V3", "V1"],
                    reason="no_transport_capacity",
                    detail="not enough trucks",
                )
            ],
        ),
        source=dispatch,
        cause="R2",
    )
    r.add(
        StockLevelReportedV1,
        5,
        {"depot_id": "D-A", "commodity": "water", "quantity": 80, "unit": "t"},
    )
    return r


def progress(
    r: Run, hours: float, order: str, vehicle: str, stage: str, node: str, **kw: Any
) -> None:
    r.add(
        OrderProgressReportedV1,
        hours,
        {"order_id": order, "vehicle_id": vehicle, "stage": stage, "node_id": node, **kw},
        source="/hinterland/exercise/telematics",
    )


def cargo(need: str, kg: int, commodity: str = "water") -> dict[str, Any]:
    return {"depot_id": "D-A", "need_id": need, "commodity": commodity, "quantity_kg": kg}


def executed_run() -> Run:
    """base_run, executed: V1 delivers N1 early (+3 h); V2 hands over only 12 of 20 t at +9 h."""
    r = base_run()
    progress(r, 1, "O1", "V1", "loaded", "N-A", stop_index=0, cargo=[cargo("N1", 10_000)])
    progress(r, 3, "O1", "V1", "unloaded", "N-B", stop_index=1, cargo=[cargo("N1", 10_000)])
    progress(r, 3, "O1", "V1", "completed", "N-B")
    progress(r, 1, "O2", "V2", "loaded", "N-A", stop_index=0, cargo=[cargo("N2", 20_000, "grain")])
    progress(
        r, 9, "O2", "V2", "unloaded", "N-C", stop_index=1, cargo=[cargo("N2", 12_000, "grain")]
    )
    progress(r, 12, "O2", "V2", "completed", "N-C")
    return r


# --- planned basis ------------------------------------------------------------------------------


def test_without_execution_reports_the_kpis_are_marked_planned_not_executed() -> None:
    kpis = compute_kpis(base_run().events)
    assert kpis.execution.basis == "planned"
    assert "planned, not executed" in kpis.execution.note
    assert kpis.execution.orders_issued == 2


def test_fill_rate_by_priority_class_and_region_counts_issued_orders_when_not_executed() -> None:
    kpis = compute_kpis(base_run().events)
    by_prio = {
        k: (f.requested_kg, f.delivered_kg, f.fill) for k, f in kpis.fill_by_priority.items()
    }
    assert by_prio == {
        "life_saving": (10_000, 10_000, 1.0),
        "sustaining": (20_000, 20_000, 1.0),
        "routine": (7_000, 0, 0.0),
    }
    by_region = {k: (f.requested_kg, f.delivered_kg) for k, f in kpis.fill_by_region.items()}
    assert by_region == {"Chongqing": (25_000, 20_000), "Sichuan": (12_000, 10_000)}
    assert kpis.fill.fill == round(30_000 / 37_000, 4)


def test_tonne_km_multiply_the_load_aboard_by_each_link_length_per_mode() -> None:
    kpis = compute_kpis(base_run().events)
    # V1: 10 t over road A-B 100 km; V2: 20 t over rail A-C 200 km; V3 was never ordered.
    assert kpis.transport.tonne_km_by_mode == {"rail": 4000.0, "road": 1000.0}
    assert kpis.transport.vehicle_km_by_mode == {"rail": 200.0, "road": 100.0}
    assert kpis.transport.tonne_km_total == 5000.0
    assert [(u.link_id, u.trips) for u in kpis.transport.links_used] == [("L-AB", 1), ("L-AC", 1)]


def test_lateness_is_delivery_time_minus_the_needs_deadline() -> None:
    kpis = compute_kpis(base_run().events)
    late = {d.need_id: d.lateness_h for d in kpis.deliveries}
    assert late == {"N1": -2.0, "N2": 1.0}
    assert (kpis.lateness.late, kpis.lateness.on_time, kpis.lateness.late_kg) == (1, 1, 20_000)
    assert kpis.lateness.on_time_share_kg == round(1 - 20_000 / 30_000, 4)
    assert kpis.lateness.needs_fully_served_late == 1


def test_time_to_first_delivery_is_counted_from_the_need_being_raised() -> None:
    kpis = compute_kpis(base_run().events)
    waits = {n.need_id: n.hours_to_first_delivery for n in kpis.needs}
    assert waits == {"N1": 4.0, "N2": 11.0, "N3": None, "N4": None}
    fd = kpis.first_delivery
    assert (fd.needs_with_delivery, fd.needs_total) == (2, 4)
    assert fd.first_delivery_h_from_start == 4.0
    assert fd.hours_after_raised.median == 7.5


def test_unmet_demand_takes_its_reason_from_the_last_plan_that_mentions_the_need() -> None:
    kpis = compute_kpis(base_run().events)
    unmet = {u.need_id: (u.short_kg, u.reason) for u in kpis.unmet.needs}
    # v1 said N3 was served; v2, the last word, said partial for lack of transport.
    assert unmet == {"N3": (5_000, "no_transport_capacity"), "N4": (2_000, NEVER_PLANNED)}
    assert kpis.unmet.short_kg_by_reason == {"no_transport_capacity": 5_000, NEVER_PLANNED: 2_000}


def test_replan_latency_runs_from_the_inject_behind_the_trigger_to_the_plan() -> None:
    kpis = compute_kpis(base_run().events)
    plans = {p.version: p for p in kpis.replans.plans}
    assert plans[1].latency_s == 0.0
    # triggered by DisruptionApplied, caused by the inject at +2 h; published at +2.5 h
    assert plans[2].latency_s == 1800.0
    assert plans[2].trigger_time == at(2).isoformat()
    assert (kpis.replans.plans_published, kpis.replans.replans) == (2, 1)
    assert kpis.replans.solve_time_ms.max == 200.0


def test_each_plan_reports_its_served_share_of_the_physical_limit() -> None:
    kpis = compute_kpis(base_run().events)
    assert [p.served_fraction_of_bound for p in kpis.replans.plans] == [0.25, 0.5]


def test_a_recording_of_v1_plans_gives_the_same_kpis_without_the_physical_limit() -> None:
    old = compute_kpis(base_run(PlanPublishedV1).events).to_json()
    new = compute_kpis(base_run().events).to_json()
    old_plans, new_plans = old["replans"].pop("plans"), new["replans"].pop("plans")
    assert old == new
    assert [p["served_fraction_of_bound"] for p in old_plans] == [None, None]
    for p in new_plans:
        p["served_fraction_of_bound"] = None
    assert old_plans == new_plans


def test_plan_churn_compares_the_open_assignments_of_needs_both_plans_cover() -> None:
    kpis = compute_kpis(base_run().events)
    v2 = kpis.replans.plans[1]
    # shared need N3: before {(V3,N3)} (V1/V2's were ordered), after {(V3,N3),(V1,N3)}
    assert (v2.shared_needs, v2.assignments_compared, v2.assignments_changed) == (1, 2, 1)
    assert v2.churn == 0.5
    assert kpis.replans.plans[0].churn is None


def test_injects_are_the_scenarios_own_uncaused_events_but_not_the_opening_stock() -> None:
    kpis = compute_kpis(base_run().events)
    assert [(i.kind, i.subject, i.at_h) for i in kpis.injects] == [
        ("need_raised", "N1", 0.0),
        ("need_raised", "N2", 0.0),
        ("need_raised", "N3", 0.0),
        ("need_raised", "N4", 0.0),
        ("disruption_reported", "DIS-1", 2.0),
        ("stock_level_reported", "", 5.0),
    ]
    cut = kpis.injects[4]
    assert "1 links closed" in cut.response
    assert (cut.replan_version, cut.replan_latency_s) == (2, 1800.0)


def test_vehicles_used_and_dead_letters_are_counted() -> None:
    dead = [DeadLetter("dispatch.events.dead", "x1", "hinterland.bogus.v1", 7)]
    kpis = compute_kpis(base_run().events, RunMeta(run_id="r1"), dead)
    assert (kpis.vehicles.used, kpis.vehicles.registered) == (2, 3)
    assert kpis.vehicles.used_by_owner == {"civil": 1, "military": 1}
    assert kpis.dead_letters.total == 1
    assert kpis.dead_letters.by_stream == {"dispatch.events.dead": 1}
    assert kpis.run.run_id == "r1"


def test_fill_over_time_steps_up_at_each_delivery_per_priority_class() -> None:
    kpis = compute_kpis(base_run().events)
    assert kpis.fill_timeline == {
        "life_saving": [(0.0, 0.0), (4.0, 1.0)],
        "sustaining": [(0.0, 0.0), (11.0, 1.0)],
        "routine": [(0.0, 0.0)],
    }


def test_the_kpis_are_json_and_do_not_depend_on_event_order_or_duplicates() -> None:
    events = base_run().events
    shuffled = list(events) + list(events[:5])
    random.Random(7).shuffle(shuffled)
    first = json.dumps(compute_kpis(events).to_json(), sort_keys=True)
    assert first == json.dumps(compute_kpis(shuffled).to_json(), sort_keys=True)


# --- executed basis -----------------------------------------------------------------------------


def test_with_execution_reports_deliveries_are_what_vehicles_unloaded_and_when() -> None:
    kpis = compute_kpis(executed_run().events)
    assert kpis.execution.basis == "executed"
    assert (kpis.execution.orders_started, kpis.execution.orders_completed) == (2, 2)
    assert {d.need_id: (d.quantity_kg, d.lateness_h) for d in kpis.deliveries} == {
        "N1": (10_000, -3.0),
        "N2": (12_000, -1.0),
    }
    assert kpis.fill_by_priority["sustaining"].fill == 0.6
    n2 = next(n for n in kpis.needs if n.need_id == "N2")
    assert (n2.status, n2.reason) == ("partial", NOT_DELIVERED_BY_END)
    assert kpis.lateness.late == 0


def test_executed_tonne_km_use_what_was_actually_aboard_on_each_leg() -> None:
    kpis = compute_kpis(executed_run().events)
    assert kpis.transport.tonne_km_by_mode == {"rail": 4000.0, "road": 1000.0}


def test_a_breakdown_counts_the_links_driven_before_it_and_strands_the_cargo() -> None:
    r = base_run()
    r.add(
        DispatchOrderIssuedV1,
        0.5,
        {
            "order_id": "O3",
            "plan_id": "P1",
            "vehicle_id": "V3",
            "reservation_ids": ["res-O3"],
            "stops": O3_STOPS,
            "release_at": at(6),
        },
        source="/hinterland/dispatch",
        cause="R1",
    )
    progress(r, 1, "O3", "V3", "loaded", "N-A", stop_index=0, cargo=[cargo("N3", 5_000, "tents")])
    # on its way A -> B -> C it breaks down at B: A-B (100 km) driven with 5 t, B-C not
    progress(r, 2, "O3", "V3", "broken_down", "N-B", cargo=[cargo("N3", 5_000, "tents")])
    # drop the v2 re-plan so that v1 ("served") is N3's last plan
    r.events = [
        e for e in r.events if not (isinstance(e, PlanPublishedEvent) and e.data.version == 2)
    ]
    kpis = compute_kpis(r.events)
    assert kpis.transport.tonne_km_by_mode == {"road": 500.0}
    assert [(b.vehicle_id, b.node_id, b.cargo_kg) for b in kpis.execution.breakdowns] == [
        ("V3", "N-B", 5_000)
    ]
    n3 = next(n for n in kpis.needs if n.need_id == "N3")
    assert (n3.status, n3.reason) == ("unserved", VEHICLE_BROKE_DOWN)
    assert "V3 broke down at N-B with 5 t aboard" in n3.detail


def test_a_vehicle_out_of_service_before_setting_off_drove_nothing() -> None:
    r = base_run()
    progress(r, 0.5, "O1", "V1", "broken_down", "N-A")
    kpis = compute_kpis(r.events)
    assert kpis.transport.tonne_km_total == 0.0
    assert kpis.transport.vehicle_km_by_mode == {}


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([5.0], 90, 5.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.5), ([0.0, 10.0], 90, 9.0)],
)
def test_percentile_interpolates_between_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)
