"""From the read model to a routing problem, and from a plan to reservations and orders (pure)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.dispatch.routing import (
    Depot,
    Link,
    LogisticsPlan,
    LogisticsProblem,
    Need,
    Node,
    PreviousLeg,
    Vehicle,
)
from services.dispatch.routing.problem import Classification

ALL_CLEARANCES: frozenset[Classification] = frozenset({"public", "restricted", "military"})
CIVIL_CLEARANCES: frozenset[Classification] = frozenset({"public", "restricted"})


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: str
    name: str
    lat: float
    lon: float
    status: str


@dataclass(frozen=True, slots=True)
class LinkRow:
    link_id: str
    a: str
    b: str
    mode: str
    length_km: float
    status: str
    factor: float


@dataclass(frozen=True, slots=True)
class DepotRow:
    depot_id: str
    node_id: str
    owner: str
    status: str
    stock: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class AssetRow:
    asset_id: str
    mode: str
    capacity_kg: int
    speed_kmh: float
    owner: str
    status: str
    node_id: str
    busy_until: datetime | None


@dataclass(frozen=True, slots=True)
class NeedRow:
    need_id: str
    node_id: str
    commodity: str
    remaining_kg: int
    priority: str
    deadline: datetime
    precedence: int
    classification: str


@dataclass(frozen=True, slots=True)
class HeldStock:
    """Stock reserves holds for a pending reservation of an earlier plan.

    The stock levels dispatch has read already have it taken away (reserves publishes the
    new level with its answer). A new plan either keeps that reservation or releases it, so
    to the plan it is available: without it, a re-plan saw the stock of its own legs as gone
    and moved them elsewhere, or dropped them. (Reserves publishes the level just after the
    answer; a plan read between the two counts the quantity twice, and asks for more than
    there is: reserves rejects that line, with the level, and the rejection re-plans.)
    """

    depot_id: str
    commodity: str
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    nodes: Sequence[NodeRow]
    links: Sequence[LinkRow]
    depots: Sequence[DepotRow]
    assets: Sequence[AssetRow]
    needs: Sequence[NeedRow]
    previous: Sequence[PreviousLeg] = ()
    """Legs of earlier plans not yet turned into orders (the new plan supersedes them)."""
    held: Sequence[HeldStock] = ()
    """What reserves holds for those legs (answered, not yet orders)."""


def vehicle_available(asset: AssetRow, now: datetime) -> int | None:
    """Seconds from now until the asset can start a new task, or None if it cannot."""
    if asset.status == "available":
        return 0
    if asset.status == "assigned" and asset.busy_until is not None:
        return max(0, int((asset.busy_until - now).total_seconds()))
    return None


def build_problem(
    s: Snapshot, handling_s: int = 1800, churn_cost_per_t: float = 0.0
) -> tuple[LogisticsProblem, list[NeedRow]]:
    """The routing problem for ``s``; also returns the needs already past their deadline."""
    expired = [n for n in s.needs if n.deadline <= s.now]
    live = [n for n in s.needs if n.deadline > s.now and n.remaining_kg > 0]
    stock = {d.depot_id: dict(d.stock) for d in s.depots}
    for h in s.held:
        lines = stock.get(h.depot_id)
        if lines is not None:
            lines[h.commodity] = lines.get(h.commodity, 0) + h.quantity_kg
    vehicles = []
    for a in s.assets:
        wait = vehicle_available(a, s.now)
        if wait is None:
            continue
        vehicles.append(
            Vehicle(
                id=a.asset_id,
                mode=a.mode,  # type: ignore[arg-type]
                capacity_kg=a.capacity_kg,
                speed_kmh=a.speed_kmh,
                start_node=a.node_id,
                owner=a.owner,  # type: ignore[arg-type]
                available_from_s=wait,
                clearance=ALL_CLEARANCES if a.owner == "military" else CIVIL_CLEARANCES,
            )
        )
    problem = LogisticsProblem(
        nodes=tuple(Node(n.node_id, n.name, n.lat, n.lon, n.status != "lost") for n in s.nodes),
        links=tuple(
            Link(
                l.link_id,
                l.a,
                l.b,
                l.mode,  # type: ignore[arg-type]
                int(l.length_km * 1000),
                l.status,  # type: ignore[arg-type]
                l.factor if l.status == "degraded" else 1.0,
            )
            for l in s.links  # noqa: E741
        ),
        depots=tuple(
            Depot(d.depot_id, d.node_id, d.owner, stock[d.depot_id], d.status == "operational")  # type: ignore[arg-type]
            for d in s.depots
        ),
        needs=tuple(
            Need(
                n.need_id,
                n.node_id,
                n.commodity,
                n.remaining_kg,
                n.priority,  # type: ignore[arg-type]
                int((n.deadline - s.now).total_seconds()),
                n.classification,  # type: ignore[arg-type]
                n.precedence,
            )
            for n in live
        ),
        vehicles=tuple(vehicles),
        handling_s=handling_s,
        previous=tuple(s.previous),
        churn_cost_per_t=churn_cost_per_t,
    )
    return problem, expired


@dataclass(frozen=True, slots=True)
class ReservationLine:
    reservation_id: str
    vehicle_id: str
    need_id: str
    depot_id: str
    commodity: str
    quantity_kg: int
    eta: datetime


def reservation_lines(
    plan: LogisticsPlan, plan_id: str, now: datetime, needs: dict[str, NeedRow]
) -> list[ReservationLine]:
    """One reservation per (vehicle, depot, need): what the plan takes from each depot."""
    total: dict[tuple[str, str, str], int] = defaultdict(int)
    eta: dict[tuple[str, str, str], int] = {}
    for a in plan.allocations:
        key = (a.vehicle_id, a.depot_id, a.need_id)
        total[key] += a.quantity_kg
        eta[key] = max(eta.get(key, 0), a.eta_s)
    return [
        ReservationLine(
            reservation_id=f"{plan_id}/{vehicle}/{depot}/{need}",
            vehicle_id=vehicle,
            need_id=need,
            depot_id=depot,
            commodity=needs[need].commodity,
            quantity_kg=qty,
            eta=now + timedelta(seconds=eta[(vehicle, depot, need)]),
        )
        for (vehicle, depot, need), qty in sorted(total.items())
    ]


@dataclass(frozen=True, slots=True)
class PendingReservation:
    """A reservation an earlier plan asked for that is not an order yet (requested/reserved)."""

    reservation_id: str
    plan_id: str
    vehicle_id: str
    need_id: str
    depot_id: str
    commodity: str
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class CarryOver:
    kept: list[tuple[str, ReservationLine]]
    """(the pending reservation's id, the new plan's line it now stands for)."""
    superseded: list[PendingReservation]
    new: list[ReservationLine]


def carry_over(
    pending: Sequence[PendingReservation], lines: Sequence[ReservationLine]
) -> CarryOver:
    """What a new plan does with its predecessors' pending reservations.

    A line the new plan asks for exactly as a pending reservation already does (same vehicle,
    depot, need, commodity and quantity) keeps that reservation: reserves is not asked to
    release it and hold it again. Every other pending reservation is superseded (released),
    every other line is new. Re-asking for everything made each plan under load cost reserves
    two events per leg and kept its answers, and so the orders, behind the next plan.
    """
    waiting: dict[tuple[str, str, str, str, int], list[PendingReservation]] = defaultdict(list)
    for p in pending:
        waiting[(p.vehicle_id, p.depot_id, p.need_id, p.commodity, p.quantity_kg)].append(p)
    kept: list[tuple[str, ReservationLine]] = []
    new: list[ReservationLine] = []
    for line in lines:
        same = waiting.get(
            (line.vehicle_id, line.depot_id, line.need_id, line.commodity, line.quantity_kg)
        )
        if same:
            kept.append((same.pop(0).reservation_id, line))
        else:
            new.append(line)
    superseded = [p for ps in waiting.values() for p in ps]
    superseded.sort(key=lambda p: p.reservation_id)
    return CarryOver(kept, superseded, new)


def plan_hash(content: object) -> str:
    """SHA-256 of canonical JSON: equal hashes mean equal plans (replay comparison)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
