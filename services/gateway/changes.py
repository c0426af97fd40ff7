"""What changed between two plans: needs whose outcome moved, vehicles added, dropped or
re-routed. Pure; applied to plans already redacted for the caller."""

from __future__ import annotations

from contracts.dispatch import PlannedRoute, PlanPublished
from services.gateway.models import NeedChange, PlanChanges


def _path(route: PlannedRoute) -> tuple[tuple[str, str, str | None, tuple[str, ...]], ...]:
    return tuple((s.node_id, s.action, s.need_id, tuple(s.via_links)) for s in route.stops)


def plan_changes(previous: PlanPublished, current: PlanPublished) -> PlanChanges:
    before = {n.need_id: n for n in previous.needs}
    after = {n.need_id: n for n in current.needs}
    needs: list[NeedChange] = []
    for need_id in sorted(before.keys() | after.keys()):
        b, a = before.get(need_id), after.get(need_id)
        b_status = b.status if b else "absent"
        a_status = a.status if a else "absent"
        b_kg = b.served_kg if b else 0
        a_kg = a.served_kg if a else 0
        b_reason = b.reason if b else None
        a_reason = a.reason if a else None
        if b_status == a_status and b_kg == a_kg and b_reason == a_reason:
            continue
        needs.append(
            NeedChange(
                need_id=need_id,
                before=b_status,
                after=a_status,
                before_served_kg=b_kg,
                before_reason=b_reason,
                after_served_kg=a_kg,
                reason=a.reason if a else None,
                detail=a.detail if a else "committed or withdrawn since the previous plan",
            )
        )
    old = {r.vehicle_id: r for r in previous.routes}
    new = {r.vehicle_id: r for r in current.routes}
    return PlanChanges(
        previous_plan_id=previous.plan_id,
        previous_version=previous.version,
        needs=needs,
        vehicles_added=sorted(new.keys() - old.keys()),
        vehicles_removed=sorted(old.keys() - new.keys()),
        vehicles_rerouted=sorted(
            v for v in old.keys() & new.keys() if _path(old[v]) != _path(new[v])
        ),
    )
