"""The reference regional problem: the Sichuan earthquake scenario as a LogisticsProblem.

The scenario's network, depots, fleet and timeline (``simulations/scenarios/
sichuan-earthquake.yaml``) are replayed up to a moment, without the services: disruptions
change links, nodes and depots with the transport service's own rule
(``services.transport.domain.model.apply_disruption``), status events and stock reports apply
as reported, raised needs with a deadline after that moment are open. The result is the
problem dispatch would build at that moment if no plan had been executed yet (every vehicle
at home and free, no stock committed), which isolates the routing core from execution.

The reference cut is the G85 Chengdu-Chongqing bridge (``L-road-chengdu-chongqing``), closed
2 h after the shock: ``regional_problem(2.0, cut=False)`` is the problem just before it,
``cut=True`` just after.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from contracts.common import Circle
from contracts.incidents import DisruptionReported, NeedRaised
from contracts.reserves import StockLevelReported
from contracts.transport import AssetStatusChanged, LinkStatusChanged
from services.dispatch.routing import Depot, Link, LogisticsProblem, Need, Node, Vehicle
from services.dispatch.routing.problem import Classification, Hub, LinkState, Mode, Owner
from services.transport.domain.model import Disruption, LinkStateRow, NodeState, apply_disruption

SCENARIO = "sichuan-earthquake"
CUT_LINK = "L-road-chengdu-chongqing"
CUT_AT_H = 2.0
_ALL: frozenset[Classification] = frozenset({"public", "restricted", "military"})
_CIVIL: frozenset[Classification] = frozenset({"public", "restricted"})


def regional_problem(
    at_h: float = CUT_AT_H, cut: bool = True, handling_s: int = 1800
) -> LogisticsProblem:
    """The Sichuan reference problem ``at_h`` hours after the shock.

    Parameters
    ----------
    at_h
        Moment of the snapshot; injects at or before it apply, except the G85 cut when
        ``cut`` is False.
    cut
        Whether ``CUT_LINK`` is closed (whatever the timeline says).
    handling_s
        Load/unload time per stop, as dispatch uses.
    """
    from simulations.scenario import load_scenario  # the simulations package reads YAML

    scenario = load_scenario(SCENARIO)
    now = scenario.start + timedelta(hours=at_h)
    nodes = {n.node_id: NodeState(n.node_id, n.lat, n.lon, "open") for n in scenario.network.nodes}
    names = {n.node_id: n.name for n in scenario.network.nodes}
    links = {
        x.link_id: LinkStateRow(x.link_id, x.a, x.b, x.mode, "open", 1.0)
        for x in scenario.network.links
    }
    lengths = {x.link_id: round(x.length_km * 1000) for x in scenario.network.links}
    stock: dict[str, dict[str, int]] = {
        d.depot_id: {c: round(t * 1000) for c, t in d.stock.items()} for d in scenario.spec.depots
    }
    depot_usable = {d.depot_id: True for d in scenario.spec.depots}
    assets = {a.asset_id: (a, cls) for a, cls in scenario.assets}
    asset_state: dict[str, tuple[bool, str]] = {
        a.asset_id: (a.available, a.home_node_id) for a, _ in scenario.assets
    }
    needs: list[Need] = []
    for inject in scenario.injects:
        if inject.at_h > at_h:
            continue
        data = inject.payload
        if isinstance(data, DisruptionReported):
            circle = None
            if isinstance(data.area, Circle):
                circle = (data.area.lat, data.area.lon, data.area.radius_km)
            disruption = Disruption(
                data.disruption_id,
                data.kind,
                data.severity,
                [x for x in data.links if cut or x != CUT_LINK],
                list(data.nodes),
                circle=circle,
                degrade_factor=data.degrade_factor,
            )
            changes, lost = apply_disruption(disruption, nodes, tuple(links.values()))
            for change in changes:
                links[change.link_id] = replace(
                    links[change.link_id], status=change.status, factor=change.factor
                )
            for node_id in lost:
                nodes[node_id] = replace(nodes[node_id], status="lost")
            for depot_id in data.depots:
                depot_usable[depot_id] = False
        elif isinstance(data, LinkStatusChanged):
            links[data.link_id] = replace(
                links[data.link_id], status=data.status, factor=data.capacity_factor
            )
        elif isinstance(data, AssetStatusChanged):
            where = data.node_id or asset_state[data.asset_id][1]
            asset_state[data.asset_id] = (data.status == "available", where)
        elif isinstance(data, StockLevelReported):
            per_kg = 1000 if data.unit == "t" else 1
            stock[data.depot_id][data.commodity] = round(data.quantity * per_kg)
        elif isinstance(data, NeedRaised):
            deadline_s = int((data.deadline - now).total_seconds())
            if deadline_s <= 0:
                continue
            per_kg = 1000 if data.unit == "t" else 1
            needs.append(
                Need(
                    data.need_id,
                    data.node_id,
                    data.commodity,
                    round(data.quantity * per_kg),
                    data.priority,
                    deadline_s,
                    inject.classification,
                    data.precedence,
                )
            )
    if cut:
        links[CUT_LINK] = replace(links[CUT_LINK], status="closed")

    vehicles: list[Vehicle] = []
    for asset_id, (available, node_id) in sorted(asset_state.items()):
        if not available:
            continue
        asset, _ = assets[asset_id]
        mode: Mode = asset.mode
        owner: Owner = asset.owner
        vehicles.append(
            Vehicle(
                asset_id,
                mode,
                round(asset.capacity_t * 1000),
                asset.speed_kmh,
                node_id,
                owner,
                clearance=_ALL if owner == "military" else _CIVIL,
            )
        )
    depots = []
    for spec in scenario.spec.depots:
        depot_owner: Owner = spec.owner
        depots.append(
            Depot(
                spec.depot_id,
                spec.node_id,
                depot_owner,
                stock[spec.depot_id],
                depot_usable[spec.depot_id],
            )
        )

    def link(row: LinkStateRow) -> Link:
        state: LinkState = row.status
        link_mode: Mode = row.mode  # type: ignore[assignment]
        factor = row.factor if state == "degraded" else 1.0
        return Link(row.link_id, row.a, row.b, link_mode, lengths[row.link_id], state, factor)

    return LogisticsProblem(
        nodes=tuple(
            Node(n.node_id, names[n.node_id], n.lat, n.lon, n.status != "lost")
            for n in nodes.values()
        ),
        links=tuple(link(row) for row in links.values()),
        depots=tuple(depots),
        needs=tuple(needs),
        vehicles=tuple(vehicles),
        handling_s=handling_s,
    )


def junction_hubs(
    problem: LogisticsProblem, transfer_s: int = 3600, throughput_kg: int | None = None
) -> tuple[Hub, ...]:
    """Hubs at every usable node where a surviving road meets a surviving rail, water or air
    link (the scenario names no hubs: this is the multimodal measurement's assumption)."""
    usable = {n.id for n in problem.nodes if n.usable}
    modes: dict[str, set[str]] = {}
    for x in problem.links:
        if x.state != "closed":
            for end in (x.a, x.b):
                modes.setdefault(end, set()).add("road" if x.mode == "road" else "trunk")
    return tuple(
        Hub(node, transfer_s, throughput_kg)
        for node in sorted(usable)
        if modes.get(node, set()) == {"road", "trunk"}
    )
