"""Alerts and needs: what integrated systems and dispatchers report into ``ingress.events``."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.common import Area, Commodity, Identifier, MassUnit, Priority
from contracts.envelope import Envelope, Payload

DisruptionKind = Literal[
    "earthquake", "flood", "link_cut", "node_lost", "depot_lost", "demand_surge"
]


class DisruptionReported(Payload):
    disruption_id: Identifier
    kind: DisruptionKind
    severity: int = Field(ge=1, le=5, description="1 minor .. 5 catastrophic.", examples=[5])
    observed_at: AwareDatetime = Field(description="When it was observed.")
    links: list[Identifier] = Field(default_factory=list, description="Links cut or degraded.")
    nodes: list[Identifier] = Field(default_factory=list, description="Nodes lost.")
    depots: list[Identifier] = Field(default_factory=list, description="Depots lost.")
    area: Area | None = Field(None, description="Affected area: circle or closed polygon.")
    degrade_factor: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="If set, listed links are degraded to this speed factor instead of closed.",
    )
    description: str = Field("", examples=["M7.0 earthquake, Lushan county"])

    @model_validator(mode="after")
    def _says_what_is_affected(self) -> DisruptionReported:
        if not (self.links or self.nodes or self.depots or self.area):
            raise ValueError("a disruption must name links, nodes, depots or an area")
        return self


class DisruptionReportedV1(Envelope):
    type: Literal["hinterland.incidents.disruption_reported.v1"] = (
        "hinterland.incidents.disruption_reported.v1"
    )
    data: DisruptionReported


class NeedRaised(Payload):
    need_id: Identifier
    node_id: Identifier = Field(description="Where the need is (a network node).")
    commodity: Commodity
    quantity: float = Field(gt=0, description="How much is needed.", examples=[60])
    unit: MassUnit = Field("t", examples=["t"])
    priority: Priority = Field(examples=["life_saving"])
    deadline: AwareDatetime = Field(description="Latest useful delivery time.")
    precedence: int = Field(
        0, ge=0, le=9, description="Military precedence within a priority class; higher first."
    )


class NeedRaisedV1(Envelope):
    type: Literal["hinterland.incidents.need_raised.v1"] = "hinterland.incidents.need_raised.v1"
    data: NeedRaised


class DisruptionWithdrawn(Payload):
    disruption_id: Identifier = Field(
        description="The disruption that no longer holds (as reported earlier).",
        examples=["CAP-5f0c2a3e-8d1b-5c47-9a0e-2b7c1d3e4f50"],
    )
    reason: str = Field(
        "",
        description="Why it was withdrawn (a CAP Cancel's note, an operator's words).",
        examples=["Bridge inspected and reopened"],
    )
    withdrawn_at: AwareDatetime = Field(description="When the withdrawal was issued.")


class DisruptionWithdrawnV1(Envelope):
    """An earlier ``disruption_reported`` no longer holds: transport reopens what it closed or
    degraded (unless another open disruption still does), and dispatch re-plans."""

    type: Literal["hinterland.incidents.disruption_withdrawn.v1"] = (
        "hinterland.incidents.disruption_withdrawn.v1"
    )
    data: DisruptionWithdrawn
