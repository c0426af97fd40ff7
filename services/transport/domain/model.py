"""Network state and the rule that turns a reported disruption into link and node changes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
