"""After-action KPIs: pure functions from a run's parsed events to a JSON-ready record.

Nothing here reads files or clocks; the same events give the same ``Kpis`` (and the same JSON)
every time. Two bases exist for what "delivered" means:

* **executed**: the run carries ``OrderProgressReported`` events (the execution simulator or
  real telematics). Deliveries are the ``unloaded`` reports, at the time they happened;
  tonne-km count the legs vehicles actually drove with what was actually aboard.
* **planned**: no execution events. Deliveries are the unload stops of the dispatch orders
  issued, at their planned ETA, as if every order ran to plan. The report says so.

Injects are the events nobody inside the system caused (no ``causationid``) that come from
the scenario itself (the source of the run's setup registrations), minus the setup stock
counts at the start: needs, disruptions, link/node/asset status changes, stock reports.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from contracts.catalogue import Event
from contracts.common import to_kg
from contracts.dispatch import (
    DispatchOrderIssuedV1,
    NeedPlan,
    PlannedStop,
    PlanPublishedEvent,
    PlanRequestedV1,
    share_of_bound,
)
from contracts.execution import OrderProgressReportedV1
from contracts.incidents import DisruptionReportedV1, NeedRaisedV1
from contracts.reserves import DepotStatusChangedV1, StockLevelReportedV1
from contracts.transport import (
    AssetRegistered,
    AssetRegisteredV1,
    AssetStatusChangedV1,
    DisruptionAppliedV1,
    LinkRegistered,
    LinkRegisteredV1,
    LinkStatusChangedV1,
    NodeRegistered,
    NodeRegisteredV1,
    NodeStatusChangedV1,
)

PRIORITIES: Final = ("life_saving", "sustaining", "routine")
Basis = Literal["executed", "planned"]
NeedStatus = Literal["served", "partial", "unserved"]

PLANNED_NOTE: Final = (
    "planned, not executed: the run has no execution reports, so deliveries are the issued "
    "dispatch orders' unload stops at their planned ETA"
)
EXECUTED_NOTE: Final = "executed: deliveries are the vehicles' unloaded reports"

# Reasons beyond the planner's own (contracts.dispatch.UnservedReason), for demand a plan
# counted as served that still did not arrive.
NEVER_PLANNED: Final = "never_planned"
NOT_DISPATCHED: Final = "not_dispatched"
NOT_DELIVERED_BY_END: Final = "not_delivered_by_end"
VEHICLE_BROKE_DOWN: Final = "vehicle_broke_down"

_INJECT_TYPES: Final = (
    NeedRaisedV1,
    DisruptionReportedV1,
    StockLevelReportedV1,
    AssetStatusChangedV1,
    LinkStatusChangedV1,
    NodeStatusChangedV1,
)


# --- the record ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunMeta:
    """What the events alone do not say; every field optional."""

    run_id: str = ""
    scenario: str = ""
    title: str = ""
    start: datetime | None = None
    end: datetime | None = None
    wall_time_s: float | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One entry of a ``<stream>.dead`` stream (its envelope may not even parse)."""

    stream: str
    event_id: str | None = None
    event_type: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a sample; every statistic is None for an empty sample."""

    count: int
    min: float | None
    p10: float | None
    median: float | None
    p90: float | None
    max: float | None
    mean: float | None


@dataclass(frozen=True, slots=True)
class Fill:
    requested_kg: int
    delivered_kg: int
    fill: float


@dataclass(frozen=True, slots=True)
class Delivery:
    need_id: str
    order_id: str
    vehicle_id: str
    quantity_kg: int
    at: str
    hours_after_raised: float
    lateness_h: float
    """Delivery time minus the need's deadline: negative is early."""


@dataclass(frozen=True, slots=True)
class NeedOutcome:
    need_id: str
    node_id: str
    region: str
    commodity: str
    priority: str
    requested_kg: int
    delivered_kg: int
    """Capped at ``requested_kg`` (what counts towards fill)."""
    status: NeedStatus
    raised_at: str
    deadline: str
    first_delivery_at: str | None
    hours_to_first_delivery: float | None
    fully_served_at: str | None
    lateness_h: float | None
    """Full service (or, if never full, the last delivery) minus the deadline."""
    reason: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class FirstDelivery:
    needs_total: int
    needs_with_delivery: int
    first_delivery_at: str | None
    first_delivery_h_from_start: float | None
    hours_after_raised: Distribution


@dataclass(frozen=True, slots=True)
class Lateness:
    deliveries: int
    on_time: int
    late: int
    delivered_kg: int
    late_kg: int
    on_time_share_kg: float | None
    needs_fully_served_late: int
    lateness_h: Distribution


@dataclass(frozen=True, slots=True)
class UnmetNeed:
    need_id: str
    priority: str
    region: str
    commodity: str
    requested_kg: int
    delivered_kg: int
    short_kg: int
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Unmet:
    total_short_kg: int
    short_kg_by_reason: dict[str, int]
    needs: list[UnmetNeed]


@dataclass(frozen=True, slots=True)
class LinkUse:
    link_id: str
    mode: str
    trips: int
    tonne_km: float


@dataclass(frozen=True, slots=True)
class Transport:
    tonne_km_by_mode: dict[str, float]
    tonne_km_total: float
    vehicle_km_by_mode: dict[str, float]
    unknown_links: list[str]
    links_used: list[LinkUse]


@dataclass(frozen=True, slots=True)
class Vehicles:
    used: int
    registered: int
    used_by_owner: dict[str, int]
    used_by_mode: dict[str, int]
    ids: list[str]


@dataclass(frozen=True, slots=True)
class PlanRecord:
    version: int
    plan_id: str
    time: str
    reason: str
    triggers: int
    trigger_time: str | None
    latency_s: float | None
    """Simulated time from the earliest root trigger (the inject behind it) to publication."""
    solve_time_ms: int
    fill_rate: float
    served_fraction_of_bound: float | None
    """Priority-weighted served mass over the physical limit (None for v1 plans)."""
    vehicles_used: int
    needs_planned: int
    plan_hash: str
    shared_needs: int
    """Needs planned by both this plan and the previous one (where churn is measured)."""
    assignments_compared: int
    assignments_changed: int
    churn: float | None
    """Share of the previous plan's open (vehicle, need) assignments, on the needs both plans
    planned, that this plan changed (Jaccard distance); None when none were open."""


@dataclass(frozen=True, slots=True)
class Replans:
    plans_published: int
    replans: int
    requests: int
    requests_without_plan: int
    latency_s: Distribution
    solve_time_ms: Distribution
    churn: Distribution
    plans: list[PlanRecord]


@dataclass(frozen=True, slots=True)
class Breakdown:
    order_id: str
    vehicle_id: str
    node_id: str
    at: str
    cargo_kg: int


@dataclass(frozen=True, slots=True)
class Execution:
    basis: Basis
    note: str
    orders_issued: int
    orders_started: int
    orders_completed: int
    breakdowns: list[Breakdown]


@dataclass(frozen=True, slots=True)
class DeadLetters:
    total: int
    by_stream: dict[str, int]
    entries: list[DeadLetter]


@dataclass(frozen=True, slots=True)
class InjectRecord:
    event_id: str
    at: str
    at_h: float
    kind: str
    subject: str
    summary: str
    response: str
    replan_version: int | None
    replan_latency_s: float | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    scenario: str
    title: str
    start: str | None
    end: str | None
    duration_h: float | None
    wall_time_s: float | None
    events: int


@dataclass(frozen=True, slots=True)
class Kpis:
    run: RunInfo
    execution: Execution
    fill: Fill
    fill_by_priority: dict[str, Fill]
    fill_by_region: dict[str, Fill]
    fill_timeline: dict[str, list[tuple[float, float]]]
    """Per priority class: (hours from start, cumulative fill) after each delivery."""
    first_delivery: FirstDelivery
    lateness: Lateness
    unmet: Unmet
    transport: Transport
    vehicles: Vehicles
    replans: Replans
    dead_letters: DeadLetters
    injects: list[InjectRecord]
    needs: list[NeedOutcome]
    deliveries: list[Delivery] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists and scalars, ready for ``json.dumps``."""
        out = _plain(dataclasses.asdict(self))
        assert isinstance(out, dict)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --- small helpers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def distribution(values: Iterable[float], digits: int = 3) -> Distribution:
    sample = list(values)
    if not sample:
        return Distribution(0, None, None, None, None, None, None)

    def r(x: float) -> float:
        return round(x, digits)

    return Distribution(
        count=len(sample),
        min=r(min(sample)),
        p10=r(percentile(sample, 10)),
        median=r(percentile(sample, 50)),
        p90=r(percentile(sample, 90)),
        max=r(max(sample)),
        mean=r(sum(sample) / len(sample)),
    )


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


def _iso(t: datetime) -> str:
    return _utc(t).isoformat()


def _hours(delta_s: float) -> float:
    return round(delta_s / 3600, 3)


def _fill(requested: int, delivered: int) -> Fill:
    return Fill(requested, delivered, round(delivered / requested, 4) if requested else 1.0)


def _priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


# --- indexing the run ---------------------------------------------------------------------------


@dataclass
class _Need:
    raised: NeedRaisedV1
    raised_at: datetime

    @property
    def requested_kg(self) -> int:
        return to_kg(self.raised.data.quantity, self.raised.data.unit)


@dataclass
class _Run:
    """The events of one run, deduplicated and indexed (built once, read by every KPI)."""

    events: list[Event]
    by_id: dict[str, Event]
    nodes: dict[str, NodeRegistered]
    links: dict[str, LinkRegistered]
    assets: dict[str, AssetRegistered]
    needs: dict[str, _Need]
    plans: list[PlanPublishedEvent]
    requests: dict[str, PlanRequestedV1]
    orders: dict[str, DispatchOrderIssuedV1]
    orders_by_plan: dict[str, list[DispatchOrderIssuedV1]]
    progress: dict[str, list[OrderProgressReportedV1]]
    start: datetime | None
    end: datetime | None


def _causal_depths(events: Sequence[Event]) -> dict[str, int]:
    """How many known causes stand behind each event (0 for an event nothing here caused)."""
    by_id = {e.id: e for e in events}
    depth: dict[str, int] = {}
    for e in events:
        chain: list[str] = []
        cur: Event | None = e
        while cur is not None and cur.id not in depth and cur.id not in chain:
            chain.append(cur.id)
            cur = by_id.get(cur.causationid) if cur.causationid else None
        base = depth.get(cur.id, -1) if cur is not None else -1
        for i, event_id in enumerate(reversed(chain)):
            depth[event_id] = base + 1 + i
    return depth


def _index(events: Sequence[Event], meta: RunMeta) -> _Run:
    seen: set[str] = set()
    unique: list[Event] = []
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            unique.append(e)
    # events.jsonl is grouped by stream: order by time, then causes before their effects
    # (an inject before the services' reactions at the same simulated time), then as given.
    depth = _causal_depths(unique)
    ordered = sorted(unique, key=lambda e: (_utc(e.time), depth[e.id]))
    run = _Run(
        events=ordered,
        by_id={e.id: e for e in ordered},
        nodes={},
        links={},
        assets={},
        needs={},
        plans=[],
        requests={},
        orders={},
        orders_by_plan=defaultdict(list),
        progress=defaultdict(list),
        start=meta.start or (_utc(ordered[0].time) if ordered else None),
        end=meta.end or (_utc(ordered[-1].time) if ordered else None),
    )
    for e in ordered:
        if isinstance(e, NodeRegisteredV1):
            run.nodes[e.data.node_id] = e.data
        elif isinstance(e, LinkRegisteredV1):
            run.links[e.data.link_id] = e.data
        elif isinstance(e, AssetRegisteredV1):
            run.assets[e.data.asset_id] = e.data
        elif isinstance(e, NeedRaisedV1):
            # A need raised again (an update) keeps its first raise time, takes the new figures.
            first = run.needs.get(e.data.need_id)
            run.needs[e.data.need_id] = _Need(e, first.raised_at if first else _utc(e.time))
        elif isinstance(e, PlanPublishedEvent):  # v1 in older recordings
            run.plans.append(e)
        elif isinstance(e, PlanRequestedV1):
            run.requests[e.data.request_id] = e
        elif isinstance(e, DispatchOrderIssuedV1):
            if e.data.order_id not in run.orders:
                run.orders[e.data.order_id] = e
                run.orders_by_plan[e.data.plan_id].append(e)
        elif isinstance(e, OrderProgressReportedV1):
            run.progress[e.data.order_id].append(e)
    run.plans.sort(key=lambda p: p.data.version)
    return run


# --- deliveries and legs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Drop:
    need_id: str
    order_id: str
    vehicle_id: str
    quantity_kg: int
    at: datetime


@dataclass(frozen=True, slots=True)
class _Leg:
    vehicle_id: str
    links: tuple[str, ...]
    aboard_kg: int


def _planned(run: _Run) -> tuple[list[_Drop], list[_Leg]]:
    drops: list[_Drop] = []
    legs: list[_Leg] = []
    for evt in run.orders.values():
        order = evt.data
        aboard = 0
        for stop in order.stops:
            legs.append(_Leg(order.vehicle_id, tuple(stop.via_links), aboard))
            if stop.action == "load":
                aboard += stop.quantity_kg
            else:
                aboard = max(0, aboard - stop.quantity_kg)
                if stop.need_id:
                    drops.append(
                        _Drop(
                            stop.need_id,
                            order.order_id,
                            order.vehicle_id,
                            stop.quantity_kg,
                            _utc(stop.eta),
                        )
                    )
    return drops, legs


def _path_nodes(run: _Run, links: Sequence[str], start: str | None, end: str) -> list[str | None]:
    """The node reached after each link of a leg (None where the links do not chain)."""
    if start is None:
        # The first leg starts wherever the vehicle was: walk back from the stop.
        node: str | None = end
        back: list[str | None] = []
        for link_id in reversed(links):
            back.append(node)
            node = _other_end(run, link_id, node)
        return list(reversed(back))
    out: list[str | None] = []
    here: str | None = start
    for link_id in links:
        here = _other_end(run, link_id, here)
        out.append(here)
    return out


def _other_end(run: _Run, link_id: str, node: str | None) -> str | None:
    link = run.links.get(link_id)
    if link is None or node is None:
        return None
    if link.a == node:
        return link.b
    if link.b == node:
        return link.a
    return None


class _Walk:
    """One order's reports replayed against its stops: which legs were driven, with what aboard."""

    def __init__(self, run: _Run, order_id: str) -> None:
        self.run = run
        self.order_id = order_id
        order = run.orders.get(order_id)
        self.stops: list[PlannedStop] = order.data.stops if order else []
        self.reached = -1
        self.aboard = 0
        self.legs: list[_Leg] = []
        self.drops: list[_Drop] = []

    def drive_to(self, index: int, vehicle_id: str) -> None:
        for j in range(self.reached + 1, min(index, len(self.stops) - 1) + 1):
            self.legs.append(_Leg(vehicle_id, tuple(self.stops[j].via_links), self.aboard))
        self.reached = max(self.reached, index)

    def report(self, evt: OrderProgressReportedV1) -> Breakdown | None:
        p = evt.data
        kg = sum(c.quantity_kg for c in p.cargo)
        if p.stage == "loaded":
            self.drive_to(self._index(p.stop_index), p.vehicle_id)
            self.aboard += kg
        elif p.stage == "unloaded":
            self.drive_to(self._index(p.stop_index), p.vehicle_id)
            self.aboard = max(0, self.aboard - kg)
            self.drops.extend(
                _Drop(c.need_id, self.order_id, p.vehicle_id, c.quantity_kg, _utc(evt.time))
                for c in p.cargo
            )
        elif p.stage == "completed":
            self.drive_to(len(self.stops) - 1, p.vehicle_id)
        else:
            self._partial_leg(p.node_id, p.vehicle_id)
            return Breakdown(self.order_id, p.vehicle_id, p.node_id, _iso(evt.time), kg)
        return None

    def _index(self, stop_index: int | None) -> int:
        return stop_index if stop_index is not None else self.reached + 1

    def _partial_leg(self, node_id: str, vehicle_id: str) -> None:
        """Count the links of the next leg driven before the vehicle stopped at ``node_id``.

        Reaching the leg's own stop would have produced a report, so the stop node itself
        does not count (a vehicle out of service before it set off drove nothing).
        """
        nxt = self.reached + 1
        if nxt >= len(self.stops):
            return
        start = self.stops[self.reached].node_id if self.reached >= 0 else None
        leg = self.stops[nxt].via_links
        path = _path_nodes(self.run, leg, start, self.stops[nxt].node_id)[:-1]
        if node_id in path:
            driven = tuple(leg[: path.index(node_id) + 1])
            self.legs.append(_Leg(vehicle_id, driven, self.aboard))


def _executed(run: _Run) -> tuple[list[_Drop], list[_Leg], list[Breakdown]]:
    drops: list[_Drop] = []
    legs: list[_Leg] = []
    breakdowns: list[Breakdown] = []
    for order_id in sorted(run.progress, key=lambda o: (_utc(run.progress[o][0].time), o)):
        walk = _Walk(run, order_id)
        for evt in sorted(run.progress[order_id], key=lambda e: _utc(e.time)):
            broke = walk.report(evt)
            if broke is not None:
                breakdowns.append(broke)
                break
        drops += walk.drops
        legs += walk.legs
    return drops, legs, breakdowns


# --- the KPIs -----------------------------------------------------------------------------------


def compute_kpis(
    events: Sequence[Event],
    meta: RunMeta | None = None,
    dead_letters: Sequence[DeadLetter] = (),
) -> Kpis:
    """Every after-action KPI of one run.

    Parameters
    ----------
    events
        The run's parsed events (``contracts.catalogue.parse_event``), any stream order;
        duplicates (same id) count once.
    meta
        Run id, scenario, title; ``start``/``end`` default to the first and last event times.
    dead_letters
        Entries of the ``.dead`` streams (they need not parse, so they come separately).
    """
    meta = meta or RunMeta()
    run = _index(events, meta)
    basis: Basis = "executed" if run.progress else "planned"
    breakdowns: list[Breakdown] = []
    if basis == "executed":
        drops, legs, breakdowns = _executed(run)
    else:
        drops, legs = _planned(run)
    drops.sort(key=lambda d: (d.at, d.need_id, d.order_id))

    needs = _need_outcomes(run, drops, breakdowns, basis)
    deliveries = [
        Delivery(
            need_id=d.need_id,
            order_id=d.order_id,
            vehicle_id=d.vehicle_id,
            quantity_kg=d.quantity_kg,
            at=_iso(d.at),
            hours_after_raised=_hours((d.at - run.needs[d.need_id].raised_at).total_seconds()),
            lateness_h=_hours((d.at - run.needs[d.need_id].raised.data.deadline).total_seconds()),
        )
        for d in drops
        if d.need_id in run.needs
    ]
    completed = {
        p.data.order_id for ps in run.progress.values() for p in ps if p.data.stage == "completed"
    }
    execution = Execution(
        basis=basis,
        note=EXECUTED_NOTE if basis == "executed" else PLANNED_NOTE,
        orders_issued=len(run.orders),
        orders_started=len(run.progress) if basis == "executed" else 0,
        orders_completed=len(completed),
        breakdowns=breakdowns,
    )
    vehicle_ids = {d.vehicle_id for d in drops} | {leg.vehicle_id for leg in legs}
    if basis == "planned":
        vehicle_ids |= {o.data.vehicle_id for o in run.orders.values()}
    duration = (run.end - run.start).total_seconds() / 3600 if run.start and run.end else None
    return Kpis(
        run=RunInfo(
            run_id=meta.run_id,
            scenario=meta.scenario,
            title=meta.title,
            start=_iso(run.start) if run.start else None,
            end=_iso(run.end) if run.end else None,
            duration_h=round(duration, 3) if duration is not None else None,
            wall_time_s=meta.wall_time_s,
            events=len(run.events),
        ),
        execution=execution,
        fill=_fill(sum(n.requested_kg for n in needs), sum(n.delivered_kg for n in needs)),
        fill_by_priority=_fill_by(needs, "priority"),
        fill_by_region=_fill_by(needs, "region"),
        fill_timeline=_fill_timeline(run, drops),
        first_delivery=_first_delivery(run, needs, drops),
        lateness=_lateness(needs, deliveries),
        unmet=_unmet(needs),
        transport=_transport(run, legs),
        vehicles=_vehicles(run, vehicle_ids),
        replans=_replans(run),
        dead_letters=DeadLetters(
            total=len(dead_letters),
            by_stream=dict(sorted(_count(d.stream for d in dead_letters).items())),
            entries=list(dead_letters),
        ),
        injects=_injects(run, needs),
        needs=needs,
        deliveries=deliveries,
    )


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item] += 1
    return dict(out)


def _last_outcomes(run: _Run) -> dict[str, tuple[int, NeedPlan]]:
    """Per need, the last plan that said anything about it: (version, outcome)."""
    last: dict[str, tuple[int, NeedPlan]] = {}
    for plan in run.plans:
        for outcome in plan.data.needs:
            last[outcome.need_id] = (plan.data.version, outcome)
    return last


def _need_outcomes(
    run: _Run, drops: Sequence[_Drop], breakdowns: Sequence[Breakdown], basis: Basis
) -> list[NeedOutcome]:
    by_need: dict[str, list[_Drop]] = defaultdict(list)
    for d in drops:
        by_need[d.need_id].append(d)
    stranded: dict[str, list[str]] = defaultdict(list)
    for b in breakdowns:
        for evt in run.progress[b.order_id]:
            if evt.data.stage == "broken_down":
                for c in evt.data.cargo:
                    stranded[c.need_id].append(
                        f"{b.vehicle_id} broke down at {b.node_id} with "
                        f"{c.quantity_kg / 1000:g} t aboard"
                    )
    last = _last_outcomes(run)
    out: list[NeedOutcome] = []
    for need_id in sorted(run.needs, key=lambda n: (run.needs[n].raised_at, n)):
        need = run.needs[need_id]
        n = need.raised.data
        requested = need.requested_kg
        delivered_raw = 0
        first_at: datetime | None = None
        full_at: datetime | None = None
        last_at: datetime | None = None
        for d in by_need.get(need_id, []):
            delivered_raw += d.quantity_kg
            first_at = first_at or d.at
            last_at = d.at
            if full_at is None and delivered_raw >= requested:
                full_at = d.at
        delivered = min(delivered_raw, requested)
        status: NeedStatus = (
            "served" if delivered >= requested else "partial" if delivered else "unserved"
        )
        reason, detail = _reason(need_id, status, delivered, last.get(need_id), stranded, basis)
        done_at = full_at or last_at
        node = run.nodes.get(n.node_id)
        out.append(
            NeedOutcome(
                need_id=need_id,
                node_id=n.node_id,
                region=(node.region if node and node.region else "unknown"),
                commodity=n.commodity,
                priority=n.priority,
                requested_kg=requested,
                delivered_kg=delivered,
                status=status,
                raised_at=_iso(need.raised_at),
                deadline=_iso(n.deadline),
                first_delivery_at=_iso(first_at) if first_at else None,
                hours_to_first_delivery=(
                    _hours((first_at - need.raised_at).total_seconds()) if first_at else None
                ),
                fully_served_at=_iso(full_at) if full_at else None,
                lateness_h=_hours((done_at - n.deadline).total_seconds()) if done_at else None,
                reason=reason,
                detail=detail,
            )
        )
    return out


def _reason(
    need_id: str,
    status: NeedStatus,
    delivered_kg: int,
    last: tuple[int, NeedPlan] | None,
    stranded: Mapping[str, list[str]],
    basis: Basis,
) -> tuple[str | None, str]:
    """Why a need is short: the planner's last word, or what went wrong after it."""
    if status == "served":
        return None, ""
    if last is None:
        return NEVER_PLANNED, "no published plan covered this need"
    version, outcome = last
    if outcome.status != "served":
        return outcome.reason or "unknown", outcome.detail
    planned = f"plan v{version} served {outcome.served_kg / 1000:g} t"
    got = f"{delivered_kg / 1000:g} t"
    if basis == "planned":
        return NOT_DISPATCHED, f"{planned}; the dispatch orders issued carry {got}"
    if stranded.get(need_id):
        return VEHICLE_BROKE_DOWN, f"{planned}; {'; '.join(stranded[need_id])}"
    return NOT_DELIVERED_BY_END, f"{planned}; {got} delivered by the end of the run"


def _fill_by(needs: Sequence[NeedOutcome], key: Literal["priority", "region"]) -> dict[str, Fill]:
    requested: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    for n in needs:
        k = getattr(n, key)
        requested[k] += n.requested_kg
        delivered[k] += n.delivered_kg
    if key == "priority":
        order = sorted(requested, key=lambda p: (_priority_rank(p), p))
    else:
        order = sorted(requested)
    return {k: _fill(requested[k], delivered[k]) for k in order}


def _fill_timeline(run: _Run, drops: Sequence[_Drop]) -> dict[str, list[tuple[float, float]]]:
    requested: dict[str, int] = defaultdict(int)
    for known in run.needs.values():
        requested[known.raised.data.priority] += known.requested_kg
    got: dict[str, int] = defaultdict(int)  # per need, capped at its request
    filled: dict[str, int] = defaultdict(int)
    series: dict[str, list[tuple[float, float]]] = {
        p: [(0.0, 0.0)] for p in sorted(requested, key=lambda p: (_priority_rank(p), p))
    }
    start = run.start
    for d in drops:
        need = run.needs.get(d.need_id)
        if need is None or start is None:
            continue
        prio = need.raised.data.priority
        add = min(d.quantity_kg, need.requested_kg - got[d.need_id])
        if add <= 0:
            continue
        got[d.need_id] += add
        filled[prio] += add
        h = _hours((d.at - start).total_seconds())
        series[prio].append((h, round(filled[prio] / requested[prio], 4)))
    return series


def _first_delivery(
    run: _Run, needs: Sequence[NeedOutcome], drops: Sequence[_Drop]
) -> FirstDelivery:
    known = [d for d in drops if d.need_id in run.needs]
    first = min((d.at for d in known), default=None)
    waits = [n.hours_to_first_delivery for n in needs if n.hours_to_first_delivery is not None]
    return FirstDelivery(
        needs_total=len(needs),
        needs_with_delivery=len(waits),
        first_delivery_at=_iso(first) if first else None,
        first_delivery_h_from_start=(
            _hours((first - run.start).total_seconds()) if first and run.start else None
        ),
        hours_after_raised=distribution(waits),
    )


def _lateness(needs: Sequence[NeedOutcome], deliveries: Sequence[Delivery]) -> Lateness:
    late = [d for d in deliveries if d.lateness_h > 0]
    total = sum(d.quantity_kg for d in deliveries)
    late_kg = sum(d.quantity_kg for d in late)
    return Lateness(
        deliveries=len(deliveries),
        on_time=len(deliveries) - len(late),
        late=len(late),
        delivered_kg=total,
        late_kg=late_kg,
        on_time_share_kg=round(1 - late_kg / total, 4) if total else None,
        needs_fully_served_late=sum(
            1 for n in needs if n.fully_served_at and n.lateness_h is not None and n.lateness_h > 0
        ),
        lateness_h=distribution(d.lateness_h for d in deliveries),
    )


def _unmet(needs: Sequence[NeedOutcome]) -> Unmet:
    rows = [
        UnmetNeed(
            need_id=n.need_id,
            priority=n.priority,
            region=n.region,
            commodity=n.commodity,
            requested_kg=n.requested_kg,
            delivered_kg=n.delivered_kg,
            short_kg=n.requested_kg - n.delivered_kg,
            reason=n.reason or "unknown",
            detail=n.detail,
        )
        for n in needs
        if n.status != "served"
    ]
    rows.sort(key=lambda r: (_priority_rank(r.priority), -r.short_kg, r.need_id))
    by_reason: dict[str, int] = defaultdict(int)
    for r in rows:
        by_reason[r.reason] += r.short_kg
    return Unmet(
        total_short_kg=sum(r.short_kg for r in rows),
        short_kg_by_reason=dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        needs=rows,
    )


def _transport(run: _Run, legs: Sequence[_Leg]) -> Transport:
    tkm: dict[str, float] = defaultdict(float)
    vkm: dict[str, float] = defaultdict(float)
    trips: dict[str, int] = defaultdict(int)
    link_tkm: dict[str, float] = defaultdict(float)
    unknown: set[str] = set()
    for leg in legs:
        for link_id in leg.links:
            link = run.links.get(link_id)
            if link is None:
                unknown.add(link_id)
                continue
            t_km = leg.aboard_kg / 1000 * link.length_km
            tkm[link.mode] += t_km
            vkm[link.mode] += link.length_km
            trips[link_id] += 1
            link_tkm[link_id] += t_km
    modes = sorted(set(tkm) | set(vkm))
    return Transport(
        tonne_km_by_mode={m: round(tkm[m], 1) for m in modes},
        tonne_km_total=round(sum(tkm.values()), 1),
        vehicle_km_by_mode={m: round(vkm[m], 1) for m in modes},
        unknown_links=sorted(unknown),
        links_used=[
            LinkUse(lk, run.links[lk].mode, trips[lk], round(link_tkm[lk], 1))
            for lk in sorted(trips)
        ],
    )


def _vehicles(run: _Run, ids: set[str]) -> Vehicles:
    by_owner: dict[str, int] = defaultdict(int)
    by_mode: dict[str, int] = defaultdict(int)
    for vid in ids:
        asset = run.assets.get(vid)
        by_owner[asset.owner if asset else "unknown"] += 1
        by_mode[asset.mode if asset else "unknown"] += 1
    return Vehicles(
        used=len(ids),
        registered=len(run.assets),
        used_by_owner=dict(sorted(by_owner.items())),
        used_by_mode=dict(sorted(by_mode.items())),
        ids=sorted(ids),
    )


def _root(run: _Run, event_id: str) -> Event | None:
    """Follow ``causationid`` back to the first event of the chain that is in the run."""
    evt = run.by_id.get(event_id)
    seen: set[str] = set()
    while evt is not None and evt.causationid in run.by_id and evt.id not in seen:
        seen.add(evt.id)
        evt = run.by_id[evt.causationid]
    return evt


def _trigger_roots(run: _Run, request: PlanRequestedV1 | None) -> list[Event]:
    if request is None:
        return []
    roots = {r.id: r for t in request.data.triggers if (r := _root(run, t)) is not None}
    return sorted(roots.values(), key=lambda e: (_utc(e.time), e.id))


def _assignments(plan: PlanPublishedEvent, needs: set[str]) -> set[tuple[str, str]]:
    pairs = {(s.vehicle_id, n.need_id) for n in plan.data.needs for s in n.sources}
    pairs |= {
        (r.vehicle_id, s.need_id)
        for r in plan.data.routes
        for s in r.stops
        if s.action == "unload" and s.need_id
    }
    return {p for p in pairs if p[1] in needs}


def _committed(run: _Run, plan_id: str) -> set[tuple[str, str]]:
    """(vehicle, need) pairs a plan turned into dispatch orders: done deals, not open plans."""
    return {
        (o.data.vehicle_id, s.need_id)
        for o in run.orders_by_plan.get(plan_id, [])
        for s in o.data.stops
        if s.action == "unload" and s.need_id
    }


def _churn(
    run: _Run, previous: PlanPublishedEvent, plan: PlanPublishedEvent
) -> tuple[int, int, int]:
    """(shared needs, assignments compared, assignments changed) between consecutive plans.

    Dispatch plans incrementally: a plan covers the needs still open, and what the previous
    plan turned into dispatch orders is no longer on the table. So churn compares, over the
    needs both plans planned, the previous plan's assignments that were still open (not
    ordered) with the new plan's: the Jaccard distance of the two sets. Assignments for the
    open remainder of a need that had none left open are new planning, not churn.
    """
    shared = {n.need_id for n in plan.data.needs} & {n.need_id for n in previous.data.needs}
    before = _assignments(previous, shared) - _committed(run, previous.data.plan_id)
    if not before:
        return len(shared), 0, 0
    after = _assignments(plan, shared)
    return len(shared), len(before | after), len(before ^ after)


def _replans(run: _Run) -> Replans:
    records: list[PlanRecord] = []
    previous: PlanPublishedEvent | None = None
    for plan in run.plans:
        p = plan.data
        request = run.requests.get(p.request_id)
        roots = _trigger_roots(run, request)
        trigger_at = _utc(roots[0].time) if roots else (_utc(request.time) if request else None)
        shared, compared, changed = _churn(run, previous, plan) if previous else (0, 0, 0)
        churn = round(changed / compared, 4) if compared else None
        records.append(
            PlanRecord(
                version=p.version,
                plan_id=p.plan_id,
                time=_iso(plan.time),
                reason=request.data.reason if request else "",
                triggers=len(request.data.triggers) if request else 0,
                trigger_time=_iso(trigger_at) if trigger_at else None,
                latency_s=((_utc(plan.time) - trigger_at).total_seconds() if trigger_at else None),
                solve_time_ms=p.solve_time_ms,
                fill_rate=round(p.kpis.fill_rate, 4),
                served_fraction_of_bound=(
                    None if (share := share_of_bound(p.kpis)) is None else round(share, 4)
                ),
                vehicles_used=p.kpis.vehicles_used,
                needs_planned=len(p.needs),
                plan_hash=p.plan_hash,
                shared_needs=shared,
                assignments_compared=compared,
                assignments_changed=changed,
                churn=churn,
            )
        )
        previous = plan
    published = {p.data.request_id for p in run.plans}
    return Replans(
        plans_published=len(records),
        replans=max(0, len(records) - 1),
        requests=len(run.requests),
        requests_without_plan=sum(1 for r in run.requests if r not in published),
        latency_s=distribution(r.latency_s for r in records if r.latency_s is not None),
        solve_time_ms=distribution(float(r.solve_time_ms) for r in records),
        churn=distribution(r.churn for r in records if r.churn is not None),
        plans=records,
    )


# --- injects ------------------------------------------------------------------------------------


def _scenario_source(run: _Run) -> str | None:
    for e in run.events:
        if isinstance(e, NodeRegisteredV1 | LinkRegisteredV1) and e.causationid is None:
            return e.source
    return None


def _is_inject(run: _Run, e: Event, source: str | None) -> bool:
    if not isinstance(e, _INJECT_TYPES) or e.causationid is not None:
        return False
    if source is not None and e.source != source:
        return False
    # The depots' opening stock is set-up, not an inject.
    return not (isinstance(e, StockLevelReportedV1) and _utc(e.time) == run.start)


def _descendants(run: _Run) -> dict[str, list[Event]]:
    """Per root event id, every event whose causation chain leads back to it."""
    out: dict[str, list[Event]] = defaultdict(list)
    for e in run.events:
        if e.causationid is None:
            continue
        root = _root(run, e.id)
        if root is not None and root.id != e.id:
            out[root.id].append(e)
    return out


def _injects(run: _Run, needs: Sequence[NeedOutcome]) -> list[InjectRecord]:
    source = _scenario_source(run)
    outcomes = {n.need_id: n for n in needs}
    children = _descendants(run)
    first_plan: dict[str, PlanPublishedEvent] = {}
    for published in run.plans:
        for root in _trigger_roots(run, run.requests.get(published.data.request_id)):
            first_plan.setdefault(root.id, published)
    requested_for: set[str] = {
        root.id for req in run.requests.values() for root in _trigger_roots(run, req)
    }
    out: list[InjectRecord] = []
    # Same-time injects are listed by kind and subject, whatever order they were recorded in.
    injects = sorted(
        (e for e in run.events if _is_inject(run, e, source)),
        key=lambda e: (_utc(e.time), e.type, e.subject, e.id),
    )
    for e in injects:
        plan = first_plan.get(e.id)
        latency = (_utc(plan.time) - _utc(e.time)).total_seconds() if plan else None
        if plan is not None:
            replan = f"re-planned in plan v{plan.data.version} after {_hours(latency or 0):g} h"
        elif e.id in requested_for:
            replan = "re-plan requested; no plan published for it"
        else:
            replan = "no re-plan traced to it"
        summary, effect = _describe(e, outcomes, children.get(e.id, []))
        at_h = _hours((_utc(e.time) - run.start).total_seconds()) if run.start else 0.0
        out.append(
            InjectRecord(
                event_id=e.id,
                at=_iso(e.time),
                at_h=at_h,
                kind=e.type.split(".")[-2],
                subject=e.subject,
                summary=summary,
                response="; ".join(x for x in (effect, replan) if x),
                replan_version=plan.data.version if plan else None,
                replan_latency_s=latency,
            )
        )
    return out


def _describe(
    e: Event, outcomes: Mapping[str, NeedOutcome], children: Sequence[Event]
) -> tuple[str, str]:
    """(what the inject said, what the system did about it besides re-planning)."""
    if isinstance(e, NeedRaisedV1):
        d = e.data
        summary = (
            f"{d.need_id}: {d.quantity:g} {d.unit} {d.commodity} at {d.node_id} "
            f"({d.priority}, deadline {_iso(d.deadline)})"
        )
        n = outcomes.get(d.need_id)
        if n is None:
            return summary, ""
        got = f"{n.status}: {n.delivered_kg / 1000:g} of {n.requested_kg / 1000:g} t"
        if n.hours_to_first_delivery is not None:
            got += f", first delivery {n.hours_to_first_delivery:g} h after it was raised"
        if n.lateness_h is not None:
            got += f", {'late' if n.lateness_h > 0 else 'on time'} ({n.lateness_h:+g} h)"
        if n.reason:
            got += f"; {n.reason}"
        return summary, got
    if isinstance(e, DisruptionReportedV1):
        dis = e.data
        summary = f"{dis.disruption_id}: {dis.kind}, severity {dis.severity}"
        if dis.description:
            summary += f": {dis.description}"
        effects: list[str] = []
        for c in children:
            if isinstance(c, DisruptionAppliedV1):
                a = c.data
                effects.append(
                    f"{len(a.closed_links)} links closed, {len(a.degraded_links)} degraded, "
                    f"{len(a.lost_nodes)} nodes lost"
                )
            elif isinstance(c, DepotStatusChangedV1) and c.data.status == "lost":
                effects.append(f"depot {c.data.depot_id} lost")
        return summary, ", ".join(effects) or "no effect on the network reported"
    if isinstance(e, LinkStatusChangedV1):
        return f"link {e.data.link_id} {e.data.status}", ""
    if isinstance(e, NodeStatusChangedV1):
        return f"node {e.data.node_id} {e.data.status}", ""
    if isinstance(e, AssetStatusChangedV1):
        return f"asset {e.data.asset_id} {e.data.status}", ""
    if isinstance(e, StockLevelReportedV1):
        d2 = e.data
        return f"stock {d2.depot_id} {d2.commodity}: {d2.quantity:g} {d2.unit}", ""
    return e.type, ""
