"""Seeded load: a scenario's world, then a stream of stock reports, needs and disruptions.

Every event is a valid contract envelope in live mode, published on ``ingress.events`` the
way an integrated system would (plain XADD of the envelope JSON in field ``event``). The
same seed gives the same events in the same order (only ``time`` follows the wall clock, so
that deadlines and vehicle availability behave as in a live deployment).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from contracts.envelope import Envelope
from contracts.execution import Cargo, OrderProgressReported, OrderProgressReportedV1
from contracts.incidents import DisruptionReported, DisruptionReportedV1, NeedRaised, NeedRaisedV1
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
)
from contracts.transport import (
    AssetRegistered,
    AssetRegisteredV1,
    AssetStatusChanged,
    AssetStatusChangedV1,
    LinkStatusChanged,
    LinkStatusChangedV1,
)
from services.runtime.wire import encode
from simulations.scenario import Scenario, load_scenario

ID_NAMESPACE: Final = uuid.UUID("0c7d7f4e-6a51-4f0e-9d3b-2b7b1d1e9a42")
WORLD_TYPES: Final = frozenset(
    {
        "hinterland.transport.node_registered.v1",
        "hinterland.transport.link_registered.v1",
        "hinterland.transport.asset_registered.v1",
        "hinterland.reserves.depot_registered.v1",
        "hinterland.reserves.stock_level_reported.v1",
    }
)
COMMODITIES: Final = ("medical", "water", "tents", "grain", "fuel")


@dataclass(frozen=True, slots=True)
class Published:
    """One generated event: what the checker needs to know that it was not lost."""

    event_id: str
    type: str
    body: str


@dataclass(frozen=True, slots=True)
class Mix:
    """Relative weights of the generated event kinds (after the world)."""

    stock: float = 0.90
    need: float = 0.01
    disruption: float = 0.01
    reopen: float = 0.01
    release_vehicle: float = 0.02
    extra_depots: int = 1
    """Synthetic depots per node, so that stock reports spread over many stock lines."""
    extra_assets: int = 9


@dataclass
class LoadGenerator:
    """Events for one run: ``world()`` first, then ``next_event()`` as often as needed."""

    seed: int
    scenario: Scenario
    mix: Mix = field(default_factory=Mix)
    tag: str = "rel"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.count = 0
        self.nodes = sorted(self.scenario.network.node_ids)
        self.links = sorted(self.scenario.network.link_ids)
        self.depots: list[tuple[str, str]] = [
            (d.depot_id, d.node_id) for d in self.scenario.spec.depots
        ]
        self.lines: list[tuple[str, str, float]] = [
            (d.depot_id, c, max(q, 50.0))
            for d in self.scenario.spec.depots
            for c, q in sorted(d.stock.items())
        ]
        self.assets = [a.asset_id for a, _ in self.scenario.assets]
        self.needs = 0
        self.disruptions = 0
        self.cut: list[str] = []

    def _id(self) -> str:
        self.count += 1
        return str(uuid.uuid5(ID_NAMESPACE, f"{self.tag}:{self.seed}:{self.count}"))

    def _envelope(self, cls: type[Envelope], subject: str, data: object) -> Published:
        event_id = self._id()
        event = cls.model_validate(
            {
                "id": event_id,
                "source": f"urn:hinterland:loadgen:{self.tag}",
                "time": datetime.now(UTC),
                "subject": subject,
                "correlationid": f"{self.tag}-{self.seed}",
                "mode": "live",
                "data": data,
            }
        )
        return Published(event_id, event.type, encode(event))

    def world(self) -> list[Published]:
        """The scenario's network, depots, stock and fleet, plus synthetic depots and trucks."""
        out: list[Published] = []
        for timed in self.scenario.events(f"{self.tag}-{self.seed}", mode="live"):
            if timed.event.type in WORLD_TYPES:
                data = timed.event.model_dump(mode="json")
                data["id"] = self._id()
                out.append(Published(data["id"], timed.event.type, _json(data)))
        for node in self.nodes:
            for k in range(self.mix.extra_depots):
                depot_id = f"D-REL-{node.removeprefix('N-')}-{k}"
                out.append(
                    self._envelope(
                        DepotRegisteredV1,
                        depot_id,
                        DepotRegistered(
                            depot_id=depot_id,
                            name=f"reliability depot {node} {k}",
                            node_id=node,
                            tier="county",
                            owner="civil",
                        ),
                    )
                )
                self.depots.append((depot_id, node))
                for commodity in COMMODITIES:
                    level = float(self.rng.randrange(100, 400))
                    self.lines.append((depot_id, commodity, level))
                    out.append(self._stock(depot_id, commodity, level))
        for k in range(self.mix.extra_assets):
            asset_id = f"A-REL-{k:02d}"
            self.assets.append(asset_id)
            out.append(
                self._envelope(
                    AssetRegisteredV1,
                    asset_id,
                    AssetRegistered(
                        asset_id=asset_id,
                        name=f"reliability truck {k}",
                        mode="road",
                        capacity_t=20,
                        speed_kmh=60,
                        home_node_id=self.rng.choice(self.nodes),
                        owner="civil",
                    ),
                )
            )
        return out

    def _stock(self, depot_id: str, commodity: str, tonnes: float) -> Published:
        return self._envelope(
            StockLevelReportedV1,
            depot_id,
            StockLevelReported(depot_id=depot_id, commodity=commodity, quantity=tonnes, unit="t"),
        )

    def next_event(self) -> Published:
        m = self.mix
        roll = self.rng.random() * (m.stock + m.need + m.disruption + m.reopen + m.release_vehicle)
        if roll < m.stock:
            depot_id, commodity, base = self.rng.choice(self.lines)
            return self._stock(depot_id, commodity, round(base * self.rng.uniform(0.7, 1.3), 1))
        roll -= m.stock
        if roll < m.need:
            return self.need()
        roll -= m.need
        if roll < m.disruption:
            return self.disruption()
        roll -= m.disruption
        if roll < m.reopen and self.cut:
            link = self.cut.pop(self.rng.randrange(len(self.cut)))
            return self._envelope(
                LinkStatusChangedV1,
                link,
                LinkStatusChanged(link_id=link, status="open", cause="reopened"),
            )
        asset = self.rng.choice(self.assets)
        return self._envelope(
            AssetStatusChangedV1,
            asset,
            AssetStatusChanged(asset_id=asset, status="available", node_id=None),
        )

    def need(self, quantity_t: float | None = None) -> Published:
        self.needs += 1
        need_id = f"NEED-{self.tag.upper()}-{self.seed}-{self.needs:05d}"
        deadline = datetime.now(UTC) + timedelta(hours=self.rng.uniform(6, 48))
        priority = self.rng.choice(("life_saving", "sustaining", "routine"))
        return self._envelope(
            NeedRaisedV1,
            need_id,
            NeedRaised(
                need_id=need_id,
                node_id=self.rng.choice(self.nodes),
                commodity=self.rng.choice([c for _, c, _ in self.lines]),
                quantity=quantity_t or round(self.rng.uniform(2, 20), 1),
                unit="t",
                priority=priority,
                deadline=deadline,
            ),
        )

    def disruption(self) -> Published:
        self.disruptions += 1
        link = self.rng.choice(self.links)
        degrade = self.rng.random() < 0.5
        if not degrade:
            self.cut.append(link)
        disruption_id = f"DIS-{self.tag.upper()}-{self.seed}-{self.disruptions:05d}"
        return self._envelope(
            DisruptionReportedV1,
            disruption_id,
            DisruptionReported(
                disruption_id=disruption_id,
                kind="link_cut",
                severity=self.rng.randint(2, 4),
                observed_at=datetime.now(UTC),
                links=[link],
                degrade_factor=0.5 if degrade else None,
                description="reliability run",
            ),
        )

    def events(self, n: int) -> Iterator[Published]:
        for _ in range(n):
            yield self.next_event()


def _json(data: dict[str, object]) -> str:
    return json.dumps(data, separators=(",", ":"))


def progress_reports(order: dict[str, Any], tag: str, seed: int) -> list[Published]:
    """What a vehicle's telematics reports while it executes a dispatch order (wall clock):
    loaded at each load stop, unloaded at each unload stop (only what is aboard for that need),
    then completed at the last stop. ``order`` is the DispatchOrderIssued envelope as JSON."""
    data = order["data"]
    order_id, vehicle = data["order_id"], data["vehicle_id"]
    aboard: dict[tuple[str, str], tuple[str, int]] = {}
    out: list[Published] = []

    def report(stage: str, node: str, cargo: list[Cargo], index: int | None) -> None:
        event = OrderProgressReportedV1.model_validate(
            {
                "id": str(uuid.uuid5(ID_NAMESPACE, f"{tag}:{seed}:{order_id}:{stage}:{index}")),
                "source": f"urn:hinterland:telematics:{tag}",
                "time": datetime.now(UTC),
                "subject": vehicle,
                "correlationid": order.get("correlationid") or f"{tag}-{seed}",
                "causationid": order.get("id"),
                "mode": order.get("mode", "live"),
                "classification": order.get("classification", "public"),
                "data": OrderProgressReported(
                    order_id=order_id,
                    vehicle_id=vehicle,
                    stage=stage,
                    node_id=node,
                    stop_index=index,
                    cargo=cargo,
                ),
            }
        )
        out.append(Published(event.id, event.type, encode(event)))

    for index, stop in enumerate(data["stops"]):
        need = stop.get("need_id") or ""
        if stop["action"] == "load":
            key = (stop.get("depot_id") or "", need)
            commodity, kg = aboard.get(key, (stop["commodity"], 0))
            aboard[key] = (commodity, kg + int(stop["quantity_kg"]))
            cargo = Cargo(
                depot_id=key[0],
                need_id=need,
                commodity=stop["commodity"],
                quantity_kg=int(stop["quantity_kg"]),
            )
            report("loaded", stop["node_id"], [cargo], index)
            continue
        wanted, handed = int(stop["quantity_kg"]), []
        for key in sorted(aboard):
            commodity, kg = aboard[key]
            if key[1] != need or kg <= 0 or wanted <= 0:
                continue
            take = min(kg, wanted)
            aboard[key] = (commodity, kg - take)
            wanted -= take
            handed.append(
                Cargo(depot_id=key[0], need_id=need, commodity=commodity, quantity_kg=take)
            )
        if handed:
            report("unloaded", stop["node_id"], handed, index)
    last = data["stops"][-1]["node_id"] if data["stops"] else "?"
    report("completed", last, [], None)
    return out


def generator(seed: int, scenario: str = "smoke", mix: Mix | None = None) -> LoadGenerator:
    return LoadGenerator(seed, load_scenario(scenario), mix or Mix())
