"""What the gateway answers and accepts, beyond the contracts themselves (OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.dispatch import PlanPublished
from contracts.envelope import Classification, Mode
from contracts.incidents import DisruptionReported
from services.gateway.security import Role


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Accepted(View):
    """A write was published on the bus; the services apply it asynchronously."""

    event_id: str
    type: str


class Token(View):
    """OAuth2 access token response (RFC 6749 §5.1) plus who it is for."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    username: str
    roles: list[Role]
    clearance: Classification


class Me(View):
    username: str
    roles: list[Role]
    clearance: Classification
    mode: Mode


class NewUser(View):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=200)
    roles: list[Role] = Field(min_length=1)
    clearance: Classification = "public"


class UserView(View):
    username: str
    roles: list[Role]
    clearance: Classification


class NodeView(View):
    node_id: str
    name: str
    lat: float
    lon: float
    region: str
    status: str


class LinkView(View):
    link_id: str
    a: str
    b: str
    mode: str
    length_km: float
    status: str = Field(description="open, degraded or closed.")
    factor: float = Field(description="Share of normal speed while degraded.")


class Network(View):
    nodes: list[NodeView]
    links: list[LinkView]


class DepotView(View):
    depot_id: str
    name: str
    node_id: str
    owner: str
    status: str
    stock_kg: dict[str, int] = Field(description="Available kg per commodity.")


class StockLine(View):
    depot_id: str
    commodity: str
    available_kg: int


class AssetView(View):
    asset_id: str
    mode: str
    capacity_kg: int
    speed_kmh: float
    owner: str
    status: str
    node_id: str
    busy_until: datetime | None


class NeedView(View):
    need_id: str
    node_id: str
    commodity: str
    quantity_kg: int
    committed_kg: int
    priority: str
    deadline: datetime
    precedence: int
    classification: Classification
    raised_at: datetime
    reason: str | None
    detail: str


class DisruptionView(View):
    disruption_id: str
    kind: str
    observed_at: datetime
    report: DisruptionReported


class OrderView(View):
    order_id: str
    plan_id: str
    vehicle_id: str
    need_ids: list[str]
    release_at: datetime


class NeedChange(View):
    need_id: str
    before: str = Field(description="served, partial, unserved or absent.")
    after: str
    before_served_kg: int
    after_served_kg: int
    before_reason: str | None = None
    reason: str | None = None
    detail: str = ""


class PlanChanges(View):
    """What differs from the previous plan, computed on what the caller may see."""

    previous_plan_id: str
    previous_version: int
    needs: list[NeedChange]
    vehicles_added: list[str]
    vehicles_removed: list[str]
    vehicles_rerouted: list[str]


Decision = Literal["approve", "override"]


class DecisionIn(View):
    decision: Decision
    note: str = Field("", max_length=2000, description="Why; required to override.")

    @model_validator(mode="after")
    def _override_says_why(self) -> DecisionIn:
        if self.decision == "override" and len(self.note.strip()) < 3:
            raise ValueError("an override must say why and what to do instead (note)")
        return self


class DecisionView(View):
    plan_id: str
    version: int
    decision: Literal["approved", "overridden"]
    note: str
    username: str
    at: datetime


class PlanView(View):
    plan: PlanPublished = Field(description="The plan, without what the caller may not see.")
    created_at: datetime
    reason: str = Field(description="What made dispatch re-plan.")
    current: bool
    changes: PlanChanges | None
    decision: DecisionView | None


class PlanSummary(View):
    plan_id: str
    version: int
    created_at: datetime
    fill_rate: float
    routes: int
    unserved: int
    decision: DecisionView | None


class ExerciseStatus(View):
    state: Literal["idle", "running", "paused", "stopped"]
    scenario: str | None = None
    sim_time: datetime | None = None
    detail: str = ""


class ExerciseStart(View):
    scenario: str = Field(min_length=1, examples=["smoke", "sichuan-earthquake"])


class AuditEntry(View):
    id: int
    at: datetime
    username: str
    action: str
    target: str
    outcome: str
    status_code: int
    event_ids: list[str]
    detail: str


class Snapshot(View):
    """Everything the console draws, filtered for the caller's clearance."""

    mode: Mode
    stamp: str = Field(description="Changes whenever the underlying state changes.")
    network: Network
    depots: list[DepotView]
    assets: list[AssetView]
    needs: list[NeedView]
    disruptions: list[DisruptionView]
    plan: PlanView | None
    exercise: ExerciseStatus | None
