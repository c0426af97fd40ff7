"""Events about the multimodal network and the fleet; produced by the transport service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from contracts.common import Identifier, Owner, TransportMode
from contracts.envelope import Envelope, Payload

NodeKind = Literal["city", "county", "hub", "depot", "port", "airport"]


class NodeRegistered(Payload):
    node_id: Identifier
    name: str = Field(min_length=1, examples=["Ya'an"])
    kind: NodeKind
    lat: float = Field(ge=-90, le=90, examples=[29.98])
    lon: float = Field(ge=-180, le=180, examples=[103.0])
    region: str = Field("", description="Province or cluster, for reporting.", examples=["Sichuan"])


class NodeRegisteredV1(Envelope):
    type: Literal["hinterland.transport.node_registered.v1"] = (
        "hinterland.transport.node_registered.v1"
    )
    data: NodeRegistered


class LinkRegistered(Payload):
    link_id: Identifier
    a: Identifier = Field(description="One end node (links are undirected).")
    b: Identifier = Field(description="Other end node.")
    mode: TransportMode
    length_km: float = Field(gt=0, examples=[146.5])
    capacity_t_per_day: float = Field(gt=0, examples=[20000])
    name: str = Field("", examples=["G5 Chengdu-Ya'an expressway"])


class LinkRegisteredV1(Envelope):
    type: Literal["hinterland.transport.link_registered.v1"] = (
        "hinterland.transport.link_registered.v1"
    )
    data: LinkRegistered


AssetStatus = Literal["available", "assigned", "maintenance", "lost"]


class AssetRegistered(Payload):
    asset_id: Identifier
    name: str = Field("", examples=["PLA 2nd transport bn, truck 14"])
    mode: TransportMode
    capacity_t: float = Field(gt=0, examples=[20])
    speed_kmh: float = Field(gt=0, examples=[60])
    home_node_id: Identifier
    owner: Owner
    available: bool = True


class AssetRegisteredV1(Envelope):
    type: Literal["hinterland.transport.asset_registered.v1"] = (
        "hinterland.transport.asset_registered.v1"
    )
    data: AssetRegistered


class AssetStatusChanged(Payload):
    asset_id: Identifier
    status: AssetStatus
    node_id: Identifier | None = Field(None, description="Where the asset is now, if known.")
    order_id: Identifier | None = Field(None, description="Dispatch order it is assigned to.")
    until: str | None = Field(None, description="ISO time the assignment ends, if known.")


class AssetStatusChangedV1(Envelope):
    type: Literal["hinterland.transport.asset_status_changed.v1"] = (
        "hinterland.transport.asset_status_changed.v1"
    )
    data: AssetStatusChanged


LinkState = Literal["open", "degraded", "closed"]


class LinkStatusChanged(Payload):
    link_id: Identifier
    status: LinkState
    capacity_factor: float = Field(
        1.0, gt=0, le=1, description="Share of normal speed and capacity while degraded."
    )
    cause: str = Field("", description="Disruption id or operator note.")

    @model_validator(mode="after")
    def _factor_matches_status(self) -> LinkStatusChanged:
        if self.status == "degraded" and self.capacity_factor >= 1:
            raise ValueError("a degraded link needs capacity_factor < 1")
        return self


class LinkStatusChangedV1(Envelope):
    type: Literal["hinterland.transport.link_status_changed.v1"] = (
        "hinterland.transport.link_status_changed.v1"
    )
    data: LinkStatusChanged


class NodeStatusChanged(Payload):
    node_id: Identifier
    status: Literal["open", "lost"]
    cause: str = ""


class NodeStatusChangedV1(Envelope):
    type: Literal["hinterland.transport.node_status_changed.v1"] = (
        "hinterland.transport.node_status_changed.v1"
    )
    data: NodeStatusChanged


class DisruptionApplied(Payload):
    disruption_id: Identifier
    closed_links: list[Identifier] = Field(default_factory=list)
    degraded_links: list[Identifier] = Field(default_factory=list)
    lost_nodes: list[Identifier] = Field(default_factory=list)


class DisruptionAppliedV1(Envelope):
    """Transport's summary of what a reported disruption did to the network."""

    type: Literal["hinterland.transport.disruption_applied.v1"] = (
        "hinterland.transport.disruption_applied.v1"
    )
    data: DisruptionApplied
