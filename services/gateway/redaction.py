"""The classification rule, as pure functions: what a caller may see of depots, assets, needs
and plans, and which bus events may be forwarded to an external subscriber. Every read, the
live stream and the event feed go through here; nothing is merely hidden in the UI.

Rule: a thing is military-classified when its need was raised ``military`` (or above the
caller's clearance), when its vehicle or depot is military-owned, or when a plan leg carries
such a need or loads at such a depot. A caller sees a thing only if their clearance covers it
(public < restricted < military).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from contracts import reserves, transport
from contracts.dispatch import (
    NeedPlan,
    PlanKpis,
    PlanKpisV2,
    PlannedRoute,
    PlannedStop,
    PlanPublished,
    PlanPublishedEvent,
)
from contracts.envelope import Classification, Envelope
from contracts.incidents import NeedRaisedV1
from services.dispatch.routing.planner import PRIORITY_WEIGHT
from services.gateway.security import clears


def owner_classification(owner: str) -> Classification:
    """The dispatch read model keeps a depot's or vehicle's owner, not the envelope's
    classification; military-owned is military-classified."""
    return "military" if owner == "military" else "public"


@dataclass(frozen=True, slots=True)
class Hidden:
    """Ids the caller may not see, with hidden needs' priorities (to correct the KPIs)."""

    needs: Mapping[str, str] = field(default_factory=dict)
    """need id -> priority"""
    vehicles: frozenset[str] = frozenset()
    depots: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.needs or self.vehicles or self.depots)

    def mentions(self, text: str) -> bool:
        """True if ``text`` names any hidden id (used for free-text plan reasons)."""
        return any(i in text for i in (*self.needs, *self.vehicles, *self.depots))

    def merged(self, other: Hidden) -> Hidden:
        """Everything either hides."""
        return Hidden(
            needs={**self.needs, **other.needs},
            vehicles=self.vehicles | other.vehicles,
            depots=self.depots | other.depots,
        )

    def names(self, text: str) -> bool:
        """True if ``text`` holds a hidden id as a whole token (``D-MIL`` is in ``"D-MIL"``
        and ``at D-MIL,`` but not in ``D-MIL-2``): for payloads and documents sent out."""
        pattern = _token_pattern(frozenset((*self.needs, *self.vehicles, *self.depots)))
        return pattern is not None and pattern.search(text) is not None


@lru_cache(maxsize=32)
def _token_pattern(ids: frozenset[str]) -> re.Pattern[str] | None:
    if not ids:
        return None
    # Longest first, so that an id that prefixes another does not stop the alternation early.
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=lambda i: (-len(i), i)))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


def hidden_for(
    clearance: Classification,
    needs: Iterable[tuple[str, Classification, str]],
    vehicles: Iterable[tuple[str, str]],
    depots: Iterable[tuple[str, str]],
) -> Hidden:
    """What ``clearance`` may not see: needs as (id, classification, priority), vehicles and
    depots as (id, owner)."""
    return Hidden(
        needs={i: p for i, c, p in needs if not clears(clearance, c)},
        vehicles=frozenset(
            i for i, o in vehicles if not clears(clearance, owner_classification(o))
        ),
        depots=frozenset(i for i, o in depots if not clears(clearance, owner_classification(o))),
    )


def _stop_hidden(stop: PlannedStop, hidden: Hidden) -> bool:
    return (stop.need_id is not None and stop.need_id in hidden.needs) or (
        stop.depot_id is not None and stop.depot_id in hidden.depots
    )


def _redact_route(route: PlannedRoute, hidden: Hidden) -> PlannedRoute | None:
    if route.vehicle_id in hidden.vehicles:
        return None
    stops: list[PlannedStop] = []
    carried: list[str] = []  # links travelled to a removed stop: the road still goes there
    for stop in route.stops:
        if _stop_hidden(stop, hidden):
            carried.extend(stop.via_links)
            continue
        if carried:
            stop = stop.model_copy(update={"via_links": [*carried, *stop.via_links]})
            carried = []
        stops.append(stop)
    if not any(s.action == "unload" for s in stops):
        return None  # nothing the caller may see is delivered on this route
    return route.model_copy(update={"stops": stops})


def _redact_need(need: NeedPlan, hidden: Hidden) -> NeedPlan:
    sources = [
        s
        for s in need.sources
        if s.depot_id not in hidden.depots and s.vehicle_id not in hidden.vehicles
    ]
    if len(sources) == len(need.sources):
        return need
    return need.model_copy(update={"sources": sources})


def _kpis(
    plan: PlanPublished, routes: list[PlannedRoute], needs: list[NeedPlan], hidden: Hidden
) -> PlanKpis:
    k = plan.kpis
    served = dict(k.served_kg_by_priority)
    requested = dict(k.requested_kg_by_priority)
    for n in plan.needs:
        priority = hidden.needs.get(n.need_id)
        if priority is not None:
            served[priority] = max(0, served.get(priority, 0) - n.served_kg)
            requested[priority] = max(0, requested.get(priority, 0) - n.requested_kg)
    total_requested = sum(n.requested_kg for n in needs)
    total_served = sum(n.served_kg for n in needs)
    weighted_requested = sum(PRIORITY_WEIGHT.get(p, 1) * kg for p, kg in requested.items())
    weighted_served = sum(PRIORITY_WEIGHT.get(p, 1) * kg for p, kg in served.items())
    return PlanKpis(
        fill_rate=min(1.0, total_served / total_requested) if total_requested else 1.0,
        priority_weighted_fill=(
            min(1.0, weighted_served / weighted_requested) if weighted_requested else 1.0
        ),
        vehicles_used=len(routes),
        distance_km=round(sum(r.distance_km for r in routes), 3),
        served_kg_by_priority=served,
        requested_kg_by_priority=requested,
    )


def redact_plan(plan: PlanPublished, hidden: Hidden) -> PlanPublished:
    """The plan as a caller who may not see ``hidden`` may see it.

    Routes of hidden vehicles go; on other routes, stops for hidden needs or at hidden depots
    go (their links are folded into the next stop's, so the drawn path stays whole), and a
    route left delivering nothing visible goes. Hidden needs go from the need list, hidden
    depots and vehicles from the remaining needs' sources, and the KPIs are recomputed so
    that totals do not betray what was removed; a v2 plan's physical limit (and the served
    share of it) counts what is hidden and cannot be recomputed without it, so it is
    withheld (None). ``plan_hash`` stays the published plan's.
    """
    if not hidden:
        return plan
    routes = [r for r in (_redact_route(x, hidden) for x in plan.routes) if r is not None]
    needs = [_redact_need(n, hidden) for n in plan.needs if n.need_id not in hidden.needs]
    kpis = _kpis(plan, routes, needs, hidden)
    if isinstance(plan.kpis, PlanKpisV2):
        kpis = PlanKpisV2(
            **kpis.model_dump(), weighted_bound_kg=None, served_fraction_of_bound=None
        )
    return plan.model_copy(update={"routes": routes, "needs": needs, "kpis": kpis})


def redact_reason(reason: str, hidden: Hidden) -> str:
    """Drop the parts of dispatch's re-plan reason ("a; b; c") that name something hidden."""
    parts = [p for p in reason.split("; ") if p and not hidden.mentions(p)]
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Screened:
    """An event as it may be forwarded (None: not at all), and what is hidden from now on."""

    event: Envelope | None
    hidden: Hidden


def _revealed(event: Envelope, clearance: Classification) -> Hidden:
    """Ids this event shows to be above ``clearance``: a need raised above it, a vehicle or
    depot registered as military-owned, or the vehicle or depot an uncleared event is about.
    Only the event's own subject is learnt (a military reservation does not hide the civil
    depot it draws on)."""
    uncleared = not clears(clearance, event.classification)
    military_hidden = not clears(clearance, "military")
    if isinstance(event, NeedRaisedV1) and uncleared:
        return Hidden(needs={event.data.need_id: event.data.priority})
    if isinstance(event, transport.AssetRegisteredV1) and (
        uncleared or (military_hidden and event.data.owner == "military")
    ):
        return Hidden(vehicles=frozenset({event.data.asset_id}))
    if isinstance(event, reserves.DepotRegisteredV1) and (
        uncleared or (military_hidden and event.data.owner == "military")
    ):
        return Hidden(depots=frozenset({event.data.depot_id}))
    if uncleared and isinstance(event, transport.AssetStatusChangedV1):
        return Hidden(vehicles=frozenset({event.data.asset_id}))
    if uncleared and isinstance(
        event, reserves.DepotStatusChangedV1 | reserves.StockLevelReportedV1
    ):
        return Hidden(depots=frozenset({event.data.depot_id}))
    return Hidden()


def screen_event(event: Envelope, clearance: Classification, hidden: Hidden) -> Screened:
    """Whether a bus event may go to an external subscriber cleared to ``clearance``.

    Dropped: an event classified above the clearance; a registration of a military-owned
    vehicle or depot (for anyone not cleared military); any event whose subject or payload
    names a hidden need, vehicle or depot (``hidden``, plus what earlier events revealed).
    A plan is forwarded redacted (``redact_plan``) when its own classification allows. The
    returned ``hidden`` adds what this event revealed, for the next events of the feed.
    """
    learned = hidden.merged(_revealed(event, clearance))
    if not clears(clearance, event.classification):
        return Screened(None, learned)
    if isinstance(event, PlanPublishedEvent) and learned:
        event = event.model_copy(update={"data": redact_plan(event.data, learned)})
    payload = event.model_dump_json(include={"data"})
    if learned.names(event.subject) or learned.names(payload):
        return Screened(None, learned)
    return Screened(event, learned)
