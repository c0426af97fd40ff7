"""The network map: an inline SVG drawn from node lat/lon (equirectangular), no tiles, no script.

One ``<g class="node">`` per node; links coloured by mode, cut links red (closed) or orange
(degraded), dashed grey where a cut link reopened; the links vehicles drove drawn over them,
thicker for more trips; depots as squares; one dot per need, coloured by how it was served.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from simulations.aar.kpis import LinkUse, NeedOutcome
from simulations.aar.network import NetworkView

WIDTH: Final = 960.0
MARGIN: Final = 40.0
STATUS_COLOURS: Final = {"served": "#27ae60", "partial": "#f39c12", "unserved": "#c0392b"}


@dataclass(frozen=True, slots=True)
class _Projection:
    """lon/lat to SVG pixels: x = lon·cos(mean lat), y = −lat, scaled to fit ``WIDTH``."""

    min_x: float
    max_y: float
    scale: float
    cos_lat: float

    @staticmethod
    def fit(points: Sequence[tuple[float, float]]) -> tuple[_Projection, float]:
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        cos_lat = math.cos(math.radians((min(lats) + max(lats)) / 2))
        xs = [lon * cos_lat for lon in lons]
        span_x = max(max(xs) - min(xs), 1e-6)
        span_y = max(max(lats) - min(lats), 1e-6)
        scale = (WIDTH - 2 * MARGIN) / max(span_x, span_y * 1.2)
        height = span_y * scale + 2 * MARGIN
        return _Projection(min(xs), max(lats), scale, cos_lat), height

    def __call__(self, lat: float, lon: float) -> tuple[float, float]:
        x = MARGIN + (lon * self.cos_lat - self.min_x) * self.scale
        y = MARGIN + (self.max_y - lat) * self.scale
        return round(x, 1), round(y, 1)


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def focus_box(
    network: NetworkView, needs: Sequence[NeedOutcome]
) -> tuple[float, float, float, float] | None:
    """(min lat, min lon, max lat, max lon) around the needs' nodes, with a margin."""
    where = {n.node_id: (n.lat, n.lon) for n in network.nodes}
    points = [where[n.node_id] for n in needs if n.node_id in where]
    if not points:
        return None
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    pad_lat = max(0.3, 0.25 * (max(lats) - min(lats)))
    pad_lon = max(0.3, 0.25 * (max(lons) - min(lons)))
    return min(lats) - pad_lat, min(lons) - pad_lon, max(lats) + pad_lat, max(lons) + pad_lon


def render_map(
    network: NetworkView,
    needs: Sequence[NeedOutcome],
    links_used: Sequence[LinkUse],
    *,
    map_id: str = "map-network",
    box: tuple[float, float, float, float] | None = None,
) -> str:
    """The map as an ``<svg>`` element (a note if the run registered no nodes).

    Without ``box`` every node is drawn and the view fits them all; with a ``box`` (min lat,
    min lon, max lat, max lon) only the nodes inside are drawn, and links leaving it are cut
    at the frame.
    """
    nodes = [
        n
        for n in network.nodes
        if box is None or (box[0] <= n.lat <= box[2] and box[1] <= n.lon <= box[3])
    ]
    if not nodes:
        return '<p class="note">No nodes were registered in this run: nothing to map.</p>'
    frame = [(box[0], box[1]), (box[2], box[3])] if box else [(n.lat, n.lon) for n in nodes]
    project, height = _Projection.fit(frame)
    at = {n.node_id: project(n.lat, n.lon) for n in network.nodes}
    shown = {n.node_id for n in nodes}
    parts = [
        f'<svg class="map" id="{escape(map_id)}" viewBox="0 0 {WIDTH:.0f} {height:.0f}" '
        f'role="img" aria-label="network map">',
        f'<rect class="sea" x="0" y="0" width="{WIDTH:.0f}" height="{height:.0f}"/>',
        '<g class="links">',
    ]
    for link in network.links:
        if link.a not in at or link.b not in at or not {link.a, link.b} & shown:
            continue
        (x1, y1), (x2, y2) = at[link.a], at[link.b]
        state = link.state if link.state != "open" else ("reopened" if link.ever_cut else "open")
        label = f"{link.link_id} ({link.mode}, {link.length_km:g} km): {state}"
        if link.name:
            label = f"{link.name}, {label}"
        parts.append(
            f'<line class="link mode-{escape(link.mode)} state-{state}" '
            f'x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}">{_title(label)}</line>'
        )
    parts.append('</g><g class="routes">')
    ends = {lk.link_id: (lk.a, lk.b) for lk in network.links}
    for use in links_used:
        a, b = ends.get(use.link_id, ("", ""))
        if a not in at or b not in at or not {a, b} & shown:
            continue
        (x1, y1), (x2, y2) = at[a], at[b]
        width = 1.5 + 1.5 * math.log2(use.trips)
        label = f"{use.link_id}: {use.trips} trips, {use.tonne_km:g} t-km carried"
        parts.append(
            f'<line class="route" stroke-width="{width:.1f}" '
            f'x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}">{_title(label)}</line>'
        )
    parts.append('</g><g class="nodes">')
    labelled = {d.node_id for d in network.depots} | {n.node_id for n in needs}
    if box is not None:
        labelled = set(shown)
    for node in nodes:
        x, y = at[node.node_id]
        cls = "node lost" if node.lost else "node"
        text = f"{node.name} ({node.node_id}, {node.kind}, {node.region or 'no region'})"
        if node.lost:
            text += ": lost"
        parts.append(
            f'<g class="{cls}" data-node="{escape(node.node_id)}">'
            f'<circle cx="{x}" cy="{y}" r="3"/>{_title(text)}</g>'
        )
    parts.append('</g><g class="depots">')
    depot_count: dict[str, int] = defaultdict(int)
    for depot in network.depots:
        if depot.node_id not in shown:
            continue
        x, y = at[depot.node_id]
        k = depot_count[depot.node_id]
        depot_count[depot.node_id] += 1
        cls = "depot lost" if depot.lost else "depot"
        text = f"{depot.name} ({depot.depot_id}, {depot.tier}, {depot.owner})"
        if depot.lost:
            text += ": lost"
        parts.append(
            f'<rect class="{cls}" x="{x - 5 + 4 * k:.1f}" y="{y - 5 - 4 * k:.1f}" '
            f'width="10" height="10">{_title(text)}</rect>'
        )
    parts.append('</g><g class="needs">')
    per_node: dict[str, list[NeedOutcome]] = defaultdict(list)
    rings: dict[str, float] = {}
    for need in needs:
        per_node[need.node_id].append(need)
    for node_id in sorted(per_node):
        if node_id not in shown:
            continue
        x, y = at[node_id]
        group = per_node[node_id]
        ring = 11 + 2.2 * max(0, len(group) - 8)  # more needs, wider ring, dots stay apart
        rings[node_id] = ring
        for i, need in enumerate(group):
            angle = 2 * math.pi * i / len(group) - math.pi / 2
            nx, ny = x + ring * math.cos(angle), y + ring * math.sin(angle)
            text = (
                f"{need.need_id}: {need.status}, {need.delivered_kg / 1000:g} of "
                f"{need.requested_kg / 1000:g} t {need.commodity} ({need.priority})"
            )
            if need.reason:
                text += f"; {need.reason}"
            parts.append(
                f'<circle class="need need-{need.status}" cx="{nx:.1f}" cy="{ny:.1f}" r="3.6" '
                f'fill="{STATUS_COLOURS[need.status]}">{_title(text)}</circle>'
            )
    parts.append('</g><g class="labels">')
    names = {n.node_id: n.name for n in network.nodes}
    for node_id in sorted(labelled & shown):
        x, y = at[node_id]
        dx = 8 + (rings.get(node_id, 0.0) if box is not None else 0.0)
        parts.append(
            f'<text class="label" x="{x + dx:.1f}" y="{y - 6:.1f}">'
            f"{escape(names.get(node_id, node_id))}</text>"
        )
    parts.append("</g></svg>")
    return "\n".join(parts)
