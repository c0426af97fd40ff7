"""Network state, the rule that turns a reported disruption into link and node changes, and
the rule that undoes a withdrawn one."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

LinkState = Literal["open", "degraded", "closed"]

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True, slots=True)
class NodeState:
    node_id: str
    lat: float
    lon: float
    status: Literal["open", "lost"]


@dataclass(frozen=True, slots=True)
class LinkStateRow:
    link_id: str
    a: str
    b: str
    mode: str
    status: LinkState
    factor: float


@dataclass(frozen=True, slots=True)
class LinkChange:
    link_id: str
    status: LinkState
    factor: float


@dataclass(frozen=True, slots=True)
class Disruption:
    """The parts of a DisruptionReported the rule needs (kept free of the contract types)."""

    disruption_id: str
    kind: str
    severity: int
    links: Sequence[str]
    nodes: Sequence[str]
    circle: tuple[float, float, float] | None = None  # lat, lon, radius km
    polygon: Sequence[tuple[float, float]] | None = None
    degrade_factor: float | None = None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def in_polygon(lat: float, lon: float, ring: Sequence[tuple[float, float]]) -> bool:
    """Ray casting on (lat, lon) pairs; good enough for regional areas away from the poles."""
    inside = False
    for (y1, x1), (y2, x2) in pairwise(ring):
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def area_factor(severity: int) -> float:
    """Speed factor for road links inside a disaster area: severity 5 leaves 25 %."""
    return max(0.25, 1.0 - 0.15 * severity)


def apply_disruption(
    d: Disruption, nodes: dict[str, NodeState], links: Sequence[LinkStateRow]
) -> tuple[list[LinkChange], list[str]]:
    """Decide what a disruption does; returns (link changes, node ids lost).

    Listed links close (or degrade to ``degrade_factor``); listed nodes are lost and so are
    their links; road links with an end inside the area degrade by severity. A change never
    improves a link: closed stays closed, and a degradation keeps the worse factor.
    """

    def inside(node_id: str) -> bool:
        n = nodes.get(node_id)
        if n is None:
            return False
        if d.circle is not None:
            lat, lon, radius = d.circle
            return haversine_km(lat, lon, n.lat, n.lon) <= radius
        if d.polygon is not None:
            return in_polygon(n.lat, n.lon, d.polygon)
        return False

    lost = sorted(n for n in set(d.nodes) if n in nodes and nodes[n].status != "lost")
    lost_set = set(d.nodes)
    listed = set(d.links)
    changes: list[LinkChange] = []
    for link in sorted(links, key=lambda x: x.link_id):
        if link.status == "closed":
            continue
        target: tuple[LinkState, float] | None = None
        if link.link_id in listed or link.a in lost_set or link.b in lost_set:
            if d.degrade_factor is not None and link.link_id in listed:
                target = ("degraded", d.degrade_factor)
            else:
                target = ("closed", link.factor)
        elif link.mode == "road" and (inside(link.a) or inside(link.b)):
            target = ("degraded", area_factor(d.severity))
        if target is None:
            continue
        status, factor = target
        if status == "degraded":
            factor = min(factor, link.factor)
            if link.status == "degraded" and factor >= link.factor:
                continue
        changes.append(LinkChange(link.link_id, status, factor))
    return changes, lost


# --------------------------------------------------------------------------- withdrawal


@dataclass(frozen=True, slots=True)
class Effect:
    """What one disruption imposes on one link or node, whatever state the network was in.

    Links: ``closed`` or ``degraded`` to ``factor``; nodes: ``lost``.
    """

    target: Literal["link", "node"]
    target_id: str
    status: Literal["closed", "degraded", "lost"]
    factor: float = 1.0


LinkTarget = tuple[LinkState, float]


def intended_effects(
    d: Disruption, nodes: Mapping[str, NodeState], links: Sequence[LinkStateRow]
) -> list[Effect]:
    """Everything ``d`` does to a pristine network (every node and link open, full speed).

    Recorded when a disruption is applied, so that a withdrawal knows what each disruption
    still in force holds down, even where another one got there first and ``apply_disruption``
    had nothing left to change.
    """
    pristine_nodes = {k: replace(n, status="open") for k, n in nodes.items()}
    pristine_links = [replace(x, status="open", factor=1.0) for x in links]
    changes, lost = apply_disruption(d, pristine_nodes, pristine_links)
    return [Effect("node", n, "lost") for n in lost] + [
        Effect("link", c.link_id, "closed" if c.status == "closed" else "degraded", c.factor)
        for c in changes
    ]


def _severity(effect: Effect) -> tuple[int, float]:
    """Orders effects on one target: closed/lost worst, then the lower factor."""
    return (2, 0.0) if effect.status in ("closed", "lost") else (1, -effect.factor)


def merge_effects(old: Iterable[Effect], new: Iterable[Effect]) -> list[Effect]:
    """A re-report (CAP Update) never improves what the disruption holds: per target, the
    worse of the earlier and the new effect is kept."""
    merged: dict[tuple[str, str], Effect] = {}
    for e in (*old, *new):
        key = (e.target, e.target_id)
        if key not in merged or _severity(e) > _severity(merged[key]):
            merged[key] = e
    return sorted(merged.values(), key=lambda e: (e.target, e.target_id))


def link_state(baseline: LinkTarget, effects: Iterable[Effect]) -> LinkTarget:
    """A link's state under ``effects`` on top of its ``baseline`` (what an operator last
    set, open at full speed by default): closed if anything closes it, else the lowest
    factor among the degradations, else the baseline."""
    status, factor = baseline
    for e in effects:
        if status == "closed":
            break
        if e.status == "closed":
            status = "closed"
        elif e.status == "degraded" and e.factor < factor:
            status, factor = "degraded", e.factor
    return status, factor


def _same(a: LinkTarget, b: LinkTarget) -> bool:
    if a[0] != b[0]:
        return False
    return a[0] != "degraded" or math.isclose(a[1], b[1], abs_tol=1e-9)


@dataclass(frozen=True, slots=True)
class Restoration:
    """What withdrawing a disruption gives back; ``left`` names targets not touched and why."""

    links: list[LinkChange]
    nodes: list[str]
    left: list[str]


def withdraw_disruption(
    withdrawn: Sequence[Effect],
    in_force: Sequence[Effect],
    nodes: Mapping[str, NodeState],
    links: Mapping[str, LinkStateRow],
    link_baselines: Mapping[str, LinkTarget],
    node_baselines: Mapping[str, Literal["open", "lost"]],
) -> Restoration:
    """Undo a withdrawn disruption's effects where nothing else still holds them.

    Each link the withdrawn disruption affected gets the state the disruptions still in
    force (``in_force``) give it on top of its baseline (what an operator last set); a lost
    node reopens unless another disruption in force, or the operator, has it lost. A target
    whose current state is not what the disruptions (the withdrawn one included) and the
    baseline would give it was changed by hand since: it is left as it is, and named in
    ``left``.
    """
    by_target: dict[tuple[str, str], list[Effect]] = {}
    for e in in_force:
        by_target.setdefault((e.target, e.target_id), []).append(e)
    changes: list[LinkChange] = []
    reopened: list[str] = []
    left: list[str] = []
    for e in sorted(withdrawn, key=lambda x: (x.target, x.target_id)):
        others = by_target.get((e.target, e.target_id), [])
        if e.target == "link":
            link = links.get(e.target_id)
            if link is None:
                continue
            baseline = link_baselines.get(e.target_id, ("open", 1.0))
            current: LinkTarget = (link.status, link.factor)
            if not _same(current, link_state(baseline, [e, *others])):
                left.append(f"link {e.target_id} is {link.status}, set by hand since")
                continue
            status, factor = link_state(baseline, others)
            if not _same(current, (status, factor)):
                changes.append(LinkChange(e.target_id, status, factor))
        else:
            node = nodes.get(e.target_id)
            if node is None or node.status != "lost":
                if node is not None:
                    left.append(f"node {e.target_id} is {node.status}, set by hand since")
                continue
            if others or node_baselines.get(e.target_id, "open") == "lost":
                continue
            reopened.append(e.target_id)
    return Restoration(changes, reopened, left)
