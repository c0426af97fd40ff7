"""The network the adapters mark against, as plain data the caller passes in, and its geometry.

The adapters never read the services' tables: the host (HTTP app, bus adapter) hands them a
:class:`Network` snapshot (node id and coordinates, link id, ends and mode, optionally which
depot sits at which node). Geometry is planar on latitude/longitude with a local
equirectangular projection, like transport's own disruption rule: good for regional areas
away from the poles and the antimeridian, which is what alerts cover.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Link:
    link_id: str
    a: str
    b: str
    mode: str = "road"


@dataclass(frozen=True, slots=True)
class DepotSite:
    depot_id: str
    node_id: str


@dataclass(frozen=True, slots=True)
class CircleArea:
    lat: float
    lon: float
    radius_km: float


@dataclass(frozen=True, slots=True)
class PolygonArea:
    points: tuple[tuple[float, float], ...]
    """Closed ring of (lat, lon): the last point equals the first."""


Shape = CircleArea | PolygonArea


@dataclass(frozen=True, slots=True)
class Network:
    """A snapshot of nodes, links and depot sites, indexed by id."""

    nodes: tuple[Node, ...] = ()
    links: tuple[Link, ...] = ()
    depots: tuple[DepotSite, ...] = ()
    _by_id: dict[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {n.node_id: n for n in self.nodes})

    @classmethod
    def from_plain(
        cls,
        nodes: Iterable[Mapping[str, Any]],
        links: Iterable[Mapping[str, Any]] = (),
        depots: Iterable[Mapping[str, Any]] = (),
    ) -> Network:
        """From dicts shaped like the contracts' node/link/depot registrations."""
        return cls(
            tuple(Node(str(n["node_id"]), float(n["lat"]), float(n["lon"])) for n in nodes),
            tuple(
                Link(str(x["link_id"]), str(x["a"]), str(x["b"]), str(x.get("mode", "road")))
                for x in links
            ),
            tuple(DepotSite(str(d["depot_id"]), str(d["node_id"])) for d in depots),
        )

    def node(self, node_id: str) -> Node | None:
        return self._by_id.get(node_id)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def _project(lat: float, lon: float, lat0: float) -> tuple[float, float]:
    """Kilometres east and north on a plane tangent near latitude ``lat0``."""
    k = math.pi * EARTH_RADIUS_KM / 180
    return lon * k * math.cos(math.radians(lat0)), lat * k


def _in_ring(lat: float, lon: float, ring: Sequence[tuple[float, float]]) -> bool:
    inside = False
    for (y1, x1), (y2, x2) in pairwise(ring):
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def contains(shape: Shape, lat: float, lon: float) -> bool:
    """Is the point inside the circle (great-circle distance) or the polygon (ray casting)?"""
    if isinstance(shape, CircleArea):
        return haversine_km(shape.lat, shape.lon, lat, lon) <= shape.radius_km
    return _in_ring(lat, lon, shape.points)


def _orientation(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def _segments_cross(
    p1: tuple[float, float],
    p2: tuple[float, float],
    q1: tuple[float, float],
    q2: tuple[float, float],
) -> bool:
    d1, d2 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    d3, d4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    return (d1 > 0) != (d2 > 0) and (d3 > 0) != (d4 > 0)


def crosses(shape: Shape, a: Node, b: Node) -> bool:
    """Does the straight segment a–b touch the shape (an end inside, or passing through)?"""
    if contains(shape, a.lat, a.lon) or contains(shape, b.lat, b.lon):
        return True
    if isinstance(shape, CircleArea):
        c = _project(shape.lat, shape.lon, shape.lat)
        pa, pb = _project(a.lat, a.lon, shape.lat), _project(b.lat, b.lon, shape.lat)
        dx, dy = pb[0] - pa[0], pb[1] - pa[1]
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else ((c[0] - pa[0]) * dx + (c[1] - pa[1]) * dy) / length2
        t = min(1.0, max(0.0, t))
        nearest = (pa[0] + t * dx, pa[1] + t * dy)
        return math.dist(nearest, c) <= shape.radius_km
    seg = ((a.lat, a.lon), (b.lat, b.lon))
    return any(_segments_cross(seg[0], seg[1], p, q) for p, q in pairwise(shape.points))


@dataclass(frozen=True, slots=True)
class Affected:
    """What an area touches: nodes inside, links touching it, depots at the nodes inside."""

    nodes: tuple[str, ...]
    links: tuple[str, ...]
    depots: tuple[str, ...]


def affected(network: Network, shapes: Sequence[Shape]) -> Affected:
    """Nodes inside any shape; links with an end inside or (not air) crossing any shape.

    An air link is only affected through its airports: aircraft fly over a flood.
    Ids come back sorted, so the same alert always gives the same disruption.
    """
    inside = {n.node_id for n in network.nodes if any(contains(s, n.lat, n.lon) for s in shapes)}
    links: set[str] = set()
    for link in network.links:
        a, b = network.node(link.a), network.node(link.b)
        if a is None or b is None:
            continue
        touches = link.a in inside or link.b in inside
        if touches or (link.mode != "air" and any(crosses(s, a, b) for s in shapes)):
            links.add(link.link_id)
    depots = {d.depot_id for d in network.depots if d.node_id in inside}
    return Affected(tuple(sorted(inside)), tuple(sorted(links)), tuple(sorted(depots)))


def nearest_node(network: Network, lat: float, lon: float) -> tuple[Node, float] | None:
    """The closest node and its distance in km (ties broken by id), or None if no nodes."""
    best: tuple[float, str, Node] | None = None
    for n in network.nodes:
        d = haversine_km(lat, lon, n.lat, n.lon)
        if best is None or (d, n.node_id) < best[:2]:
            best = (d, n.node_id, n)
    return None if best is None else (best[2], best[0])


def enclosing_circle(points: Sequence[tuple[float, float]], margin_km: float = 5.0) -> CircleArea:
    """A circle around the points' centroid reaching every point, plus a margin.

    Used when Hinterland emits CAP for a disruption that names links and nodes but no area:
    CAP consumers draw areas, not our ids.
    """
    if not points:
        raise ValueError("no points to enclose")
    lat = sum(p[0] for p in points) / len(points)
    lon = sum(p[1] for p in points) / len(points)
    reach = max(haversine_km(lat, lon, p[0], p[1]) for p in points)
    return CircleArea(round(lat, 4), round(lon, 4), round(min(reach + margin_km, 2000.0), 1))
