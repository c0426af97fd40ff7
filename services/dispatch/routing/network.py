"""Shortest paths per mode over the surviving network (open and degraded links, usable nodes)."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from services.dispatch.routing.problem import LogisticsProblem, Mode


@dataclass(frozen=True, slots=True)
class Path:
    """A path of one mode; effective_m is the length stretched by degraded links."""

    length_m: int
    effective_m: float
    links: tuple[str, ...]

    def travel_s(self, speed_kmh: float) -> int:
        """Travel time in whole seconds at speed_kmh, rounded up so deadlines stay safe."""
        return math.ceil(self.effective_m * 3.6 / speed_kmh - 1e-9)


_EMPTY = Path(0, 0.0, ())


@dataclass(frozen=True, slots=True)
class _Edge:
    to: str
    link_id: str
    length_m: int
    effective_m: float


class Network:
    """Dijkstra by mode, memoised per (mode, source); ties break on node id for determinism."""

    __slots__ = ("_adjacency", "_cache", "_usable")

    def __init__(self, problem: LogisticsProblem) -> None:
        self._usable: frozenset[str] = frozenset(n.id for n in problem.nodes if n.usable)
        adjacency: dict[Mode, dict[str, list[_Edge]]] = {}
        for link in sorted(problem.links, key=lambda item: item.id):
            if link.state == "closed" or link.a not in self._usable or link.b not in self._usable:
                continue
            factor = link.speed_factor if link.state == "degraded" else 1.0
            effective = link.length_m / factor
            by_node = adjacency.setdefault(link.mode, {})
            by_node.setdefault(link.a, []).append(_Edge(link.b, link.id, link.length_m, effective))
            by_node.setdefault(link.b, []).append(_Edge(link.a, link.id, link.length_m, effective))
        self._adjacency = adjacency
        self._cache: dict[tuple[Mode, str], dict[str, Path]] = {}

    def is_usable(self, node_id: str) -> bool:
        """Whether a node survives (it can be crossed, loaded at and delivered to)."""
        return node_id in self._usable

    def path(self, mode: Mode, source: str, target: str) -> Path | None:
        """Fastest path from source to target by mode, or None when cut off."""
        if source == target:
            return _EMPTY if source in self._usable else None
        return self.paths_from(mode, source).get(target)

    def paths_from(self, mode: Mode, source: str) -> dict[str, Path]:
        """Fastest paths from source to every reachable usable node by mode."""
        key = (mode, source)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._dijkstra(mode, source)
            self._cache[key] = cached
        return cached

    def _dijkstra(self, mode: Mode, source: str) -> dict[str, Path]:
        if source not in self._usable:
            return {}
        edges = self._adjacency.get(mode, {})
        best: dict[str, tuple[float, int]] = {source: (0.0, 0)}
        previous: dict[str, tuple[str, str]] = {}
        done: set[str] = set()
        heap: list[tuple[float, int, str]] = [(0.0, 0, source)]
        while heap:
            effective, length, node = heapq.heappop(heap)
            if node in done:
                continue
            done.add(node)
            for edge in edges.get(node, ()):
                if edge.to in done:
                    continue
                candidate = (effective + edge.effective_m, length + edge.length_m)
                known = best.get(edge.to)
                if known is None or candidate < known:
                    best[edge.to] = candidate
                    previous[edge.to] = (node, edge.link_id)
                    heapq.heappush(heap, (candidate[0], candidate[1], edge.to))
        paths: dict[str, Path] = {}
        for node, (effective, length) in best.items():
            links: list[str] = []
            cursor = node
            while cursor != source:
                cursor, link_id = previous[cursor]
                links.append(link_id)
            paths[node] = Path(length, effective, tuple(reversed(links)))
        return paths
