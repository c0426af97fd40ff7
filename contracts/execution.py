"""What vehicles actually did: execution reports from telematics (the simulator in exercises).

A plan says what should happen; these events say what did. They arrive on ``ingress.events``
like any integrated system's report, and every service folds them into its own state: reserves
moves stock from in transit to delivered, transport frees or grounds the vehicle, dispatch
counts delivered demand and re-plans what a broken-down vehicle was carrying.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.common import Commodity, Identifier
from contracts.envelope import Envelope, Payload

ProgressStage = Literal["loaded", "unloaded", "completed", "broken_down"]


class Cargo(Payload):
    depot_id: Identifier = Field(description="Depot the goods were drawn from.")
    need_id: Identifier = Field(description="Need the goods are for.")
    commodity: Commodity
    quantity_kg: int = Field(gt=0)


class OrderProgressReported(Payload):
    order_id: Identifier = Field(description="The dispatch order being executed.")
    vehicle_id: Identifier
    stage: ProgressStage = Field(
        description=(
            "loaded: goods taken on at a depot stop; unloaded: goods handed over at a need; "
            "completed: last stop done, vehicle free at node_id; broken_down: vehicle out of "
            "service at node_id, cargo lists what is still aboard (it is not delivered)."
        )
    )
    node_id: Identifier = Field(description="Where the vehicle is.")
    stop_index: int | None = Field(
        None, ge=0, description="Index into the order's stops (loaded/unloaded)."
    )
    cargo: list[Cargo] = Field(
        default_factory=list,
        description="loaded/unloaded: what moved at this stop; broken_down: what is aboard.",
    )
    detail: str = Field("", max_length=2000)


class OrderProgressReportedV1(Envelope):
    type: Literal["hinterland.execution.order_progress_reported.v1"] = (
        "hinterland.execution.order_progress_reported.v1"
    )
    data: OrderProgressReported
