"""The network as the run last saw it: nodes, links with their final state, depots; for the map."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from contracts.catalogue import Event
from contracts.reserves import DepotRegisteredV1, DepotStatusChangedV1
from contracts.transport import (
    DisruptionAppliedV1,
    LinkRegisteredV1,
    LinkStatusChangedV1,
    NodeRegisteredV1,
    NodeStatusChangedV1,
)


@dataclass(frozen=True, slots=True)
class MapNode:
    node_id: str
    name: str
    kind: str
    lat: float
    lon: float
    region: str
    lost: bool


@dataclass(frozen=True, slots=True)
class MapLink:
    link_id: str
    a: str
    b: str
    mode: str
    length_km: float
    name: str
    state: str
    """open, degraded or closed at the end of the run."""
    ever_cut: bool
    """Closed or degraded at some point (it may have reopened since)."""


@dataclass(frozen=True, slots=True)
class MapDepot:
    depot_id: str
    name: str
    node_id: str
    tier: str
    owner: str
    lost: bool


@dataclass(frozen=True, slots=True)
class NetworkView:
    nodes: list[MapNode]
    links: list[MapLink]
    depots: list[MapDepot]


def network_view(events: Sequence[Event]) -> NetworkView:
    """Nodes, links and depots (sorted by id), each with its state at the end of the run."""
    nodes: dict[str, NodeRegisteredV1] = {}
    links: dict[str, LinkRegisteredV1] = {}
    depots: dict[str, DepotRegisteredV1] = {}
    state: dict[str, str] = {}
    cut: set[str] = set()
    lost_nodes: set[str] = set()
    lost_depots: set[str] = set()
    for e in sorted(events, key=lambda e: e.time.astimezone(UTC)):
        if isinstance(e, NodeRegisteredV1):
            nodes[e.data.node_id] = e
        elif isinstance(e, LinkRegisteredV1):
            links[e.data.link_id] = e
        elif isinstance(e, DepotRegisteredV1):
            depots[e.data.depot_id] = e
        elif isinstance(e, LinkStatusChangedV1):
            state[e.data.link_id] = e.data.status
            if e.data.status != "open":
                cut.add(e.data.link_id)
        elif isinstance(e, DisruptionAppliedV1):
            for link_id in e.data.closed_links:
                state[link_id] = "closed"
            for link_id in e.data.degraded_links:
                state[link_id] = "degraded"
            cut.update(e.data.closed_links, e.data.degraded_links)
            lost_nodes.update(e.data.lost_nodes)
        elif isinstance(e, NodeStatusChangedV1):
            if e.data.status == "lost":
                lost_nodes.add(e.data.node_id)
            else:
                lost_nodes.discard(e.data.node_id)
        elif isinstance(e, DepotStatusChangedV1):
            if e.data.status == "lost":
                lost_depots.add(e.data.depot_id)
            else:
                lost_depots.discard(e.data.depot_id)
    return NetworkView(
        nodes=[
            MapNode(
                n.data.node_id,
                n.data.name,
                n.data.kind,
                n.data.lat,
                n.data.lon,
                n.data.region,
                n.data.node_id in lost_nodes,
            )
            for n in (nodes[k] for k in sorted(nodes))
        ],
        links=[
            MapLink(
                lk.data.link_id,
                lk.data.a,
                lk.data.b,
                lk.data.mode,
                lk.data.length_km,
                lk.data.name,
                state.get(lk.data.link_id, "open"),
                lk.data.link_id in cut,
            )
            for lk in (links[k] for k in sorted(links))
        ],
        depots=[
            MapDepot(
                d.data.depot_id,
                d.data.name,
                d.data.node_id,
                d.data.tier,
                d.data.owner,
                d.data.depot_id in lost_depots,
            )
            for d in (depots[k] for k in sorted(depots))
        ],
    )
