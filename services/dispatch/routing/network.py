"""Shortest paths per mode over the surviving network (open and degraded links, usable nodes)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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

    def leg(self, mode: Mode, source: str, target: str) -> Path | None:
        """Same as ``path`` (the planner asks for legs when it only needs lengths and times)."""
        return self.path(mode, source, target)

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


@dataclass(slots=True)
class _Tree:
    """Shortest paths from one source; a node's entries are final only where settled."""

    effective: list[float]
    length: list[int]
    parent: list[int]
    via: list[int]
    settled: bytearray
    complete: bool


_Arc = tuple[int, float, int, int]  # (to, effective_m, length_m, link number)


class FastNetwork:
    """``Network``'s paths over integer node numbers, for national-sized problems.

    The surviving graph and the tie-breaks are Network's (links in id order, heap ordered by
    effective length, length, then node id), so a path found here is the one Network finds.
    What differs is the cost: trees are computed on demand and may stop once given targets
    are settled, lengths come without building link lists (``leg``), and links are undirected
    so a leg b->a may be read off the tree grown from a.
    """

    __slots__ = ("_adjacency", "_ids", "_index", "_link_ids", "_trees", "_usable")

    def __init__(self, problem: LogisticsProblem) -> None:
        self._ids: tuple[str, ...] = tuple(sorted(n.id for n in problem.nodes))
        self._index: dict[str, int] = {ident: i for i, ident in enumerate(self._ids)}
        usable = bytearray(len(self._ids))
        for node in problem.nodes:
            if node.usable:
                usable[self._index[node.id]] = 1
        self._usable = usable
        link_ids: list[str] = []
        adjacency: dict[Mode, list[list[_Arc]]] = {}
        for link in sorted(problem.links, key=lambda item: item.id):
            a, b = self._index[link.a], self._index[link.b]
            if link.state == "closed" or not usable[a] or not usable[b]:
                continue
            factor = link.speed_factor if link.state == "degraded" else 1.0
            effective = link.length_m / factor
            number = len(link_ids)
            link_ids.append(link.id)
            arcs = adjacency.get(link.mode)
            if arcs is None:
                arcs = adjacency[link.mode] = [[] for _ in self._ids]
            arcs[a].append((b, effective, link.length_m, number))
            arcs[b].append((a, effective, link.length_m, number))
        self._adjacency = adjacency
        self._link_ids = tuple(link_ids)
        self._trees: dict[tuple[Mode, int], _Tree] = {}

    @property
    def node_ids(self) -> tuple[str, ...]:
        """Node ids in number order (sorted)."""
        return self._ids

    def number(self, node_id: str) -> int:
        """The node's number (its rank in id order)."""
        return self._index[node_id]

    def is_usable(self, node_id: str) -> bool:
        """Whether a node survives (it can be crossed, loaded at and delivered to)."""
        return bool(self._usable[self._index[node_id]])

    def has_mode(self, mode: Mode) -> bool:
        """Whether any surviving link of this mode exists."""
        return mode in self._adjacency

    def tree(self, mode: Mode, source: str) -> _Tree:
        """The complete shortest-path tree from source by mode (cached)."""
        return self._complete(mode, self._index[source])

    def prepare(self, mode: Mode, sources: Iterable[str], targets: Iterable[str]) -> None:
        """Grow trees from sources just far enough to settle every target (when reachable)."""
        wanted = frozenset(self._index[t] for t in targets)
        for source in sources:
            s = self._index[source]
            known = self._trees.get((mode, s))
            if known is not None and (known.complete or all(known.settled[t] for t in wanted)):
                continue
            self._trees[(mode, s)] = self._grow(mode, s, wanted)

    def leg(self, mode: Mode, source: str, target: str) -> Path | None:
        """Length and effective length of the fastest path (no link list), or None if cut off."""
        found = self._lookup(mode, self._index[source], self._index[target])
        if found is None:
            return None
        tree, node, _ = found
        return Path(tree.length[node], tree.effective[node], ())

    def path(self, mode: Mode, source: str, target: str) -> Path | None:
        """Fastest path from source to target by mode, with its links, or None when cut off."""
        found = self._lookup(mode, self._index[source], self._index[target])
        if found is None:
            return None
        tree, node, forward = found
        links: list[str] = []
        cursor = node
        while tree.parent[cursor] >= 0:
            links.append(self._link_ids[tree.via[cursor]])
            cursor = tree.parent[cursor]
        if forward:
            links.reverse()
        return Path(tree.length[node], tree.effective[node], tuple(links))

    def nearest(self, mode: Mode, sources: Iterable[str]) -> list[float]:
        """Effective metres from every node to the nearest of sources (inf when cut off)."""
        starts = sorted({self._index[s] for s in sources if self._usable[self._index[s]]})
        return self._dijkstra(mode, starts, frozenset()).effective

    def _lookup(self, mode: Mode, s: int, t: int) -> tuple[_Tree, int, bool] | None:
        """(tree, node to read, tree grown from the source) for the leg s->t."""
        if not self._usable[s] or not self._usable[t]:
            return None
        tree = self._trees.get((mode, s))
        if tree is not None and (tree.complete or tree.settled[t]):
            return (tree, t, True) if tree.settled[t] else None
        back = self._trees.get((mode, t))
        if back is not None and (back.complete or back.settled[s]):
            return (back, s, False) if back.settled[s] else None
        tree = self._complete(mode, s)
        return (tree, t, True) if tree.settled[t] else None

    def _complete(self, mode: Mode, s: int) -> _Tree:
        tree = self._trees.get((mode, s))
        if tree is None or not tree.complete:
            tree = self._grow(mode, s, frozenset())
            self._trees[(mode, s)] = tree
        return tree

    def _grow(self, mode: Mode, s: int, targets: frozenset[int]) -> _Tree:
        if not self._usable[s]:
            n = len(self._ids)
            return _Tree([math.inf] * n, [0] * n, [-1] * n, [-1] * n, bytearray(n), True)
        return self._dijkstra(mode, [s], targets)

    def _dijkstra(self, mode: Mode, starts: list[int], targets: frozenset[int]) -> _Tree:
        n = len(self._ids)
        effective = [math.inf] * n
        length = [0] * n
        parent = [-1] * n
        via = [-1] * n
        settled = bytearray(n)
        arcs = self._adjacency.get(mode)
        heap: list[tuple[float, int, int]] = []
        for s in starts:
            effective[s] = 0.0
            heap.append((0.0, 0, s))
        heapq.heapify(heap)
        left = len(targets)
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            eff, dist, node = pop(heap)
            if settled[node]:
                continue
            settled[node] = 1
            if left and node in targets:
                left -= 1
                if left == 0:
                    return _Tree(effective, length, parent, via, settled, False)
            if arcs is None:
                continue
            for to, arc_eff, arc_len, number in arcs[node]:
                if settled[to]:
                    continue
                cand_eff = eff + arc_eff
                known = effective[to]
                if cand_eff < known or (cand_eff == known and dist + arc_len < length[to]):
                    effective[to] = cand_eff
                    length[to] = dist + arc_len
                    parent[to] = node
                    via[to] = number
                    push(heap, (cand_eff, dist + arc_len, to))
        return _Tree(effective, length, parent, via, settled, True)

    def block(
        self, mode: Mode, places: Sequence[str]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(effective, length) metres between every pair of places, inf effective when cut off.

        Row a is read from the tree grown from a (after ``prepare``), so every entry is the
        one ``leg`` gives for the same pair.
        """
        self.prepare(mode, places, places)
        numbers = np.array([self._index[p] for p in places], dtype=np.int64)
        n = len(places)
        effective = np.full((n, n), np.inf)
        length = np.zeros((n, n))
        for row, source in enumerate(numbers.tolist()):
            if not self._usable[source]:
                continue
            tree = self._trees[(mode, source)]
            settled = np.frombuffer(bytes(tree.settled), dtype=np.uint8)[numbers].astype(bool)
            usable = np.frombuffer(bytes(self._usable), dtype=np.uint8)[numbers].astype(bool)
            ok = settled & usable
            effective[row, ok] = np.asarray(tree.effective)[numbers[ok]]
            length[row, ok] = np.asarray(tree.length)[numbers[ok]]
        return effective, length

    def effective_from(self, mode: Mode, source: str) -> list[float]:
        """Effective metres from source to every node by number (complete tree; inf: cut off)."""
        return self._complete(mode, self._index[source]).effective
