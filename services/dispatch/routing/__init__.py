"""Routing core of Hinterland: turn stocks, needs, a damaged network and a fleet into a plan."""

from services.dispatch.routing.bound import DeliveryBound, delivery_bound
from services.dispatch.routing.params import SolverParams
from services.dispatch.routing.plan import (
    Allocation,
    LogisticsPlan,
    NeedOutcome,
    PlanKpis,
    Reason,
    RouteStop,
    VehicleRoute,
)
from services.dispatch.routing.planner import plan_deliveries, plan_deliveries_anytime
from services.dispatch.routing.problem import (
    Depot,
    Hub,
    Link,
    LogisticsProblem,
    Need,
    Node,
    PreviousLeg,
    Vehicle,
)

__all__ = [
    "Allocation",
    "DeliveryBound",
    "Depot",
    "Hub",
    "Link",
    "LogisticsPlan",
    "LogisticsProblem",
    "Need",
    "NeedOutcome",
    "Node",
    "PlanKpis",
    "PreviousLeg",
    "Reason",
    "RouteStop",
    "SolverParams",
    "Vehicle",
    "VehicleRoute",
    "delivery_bound",
    "plan_deliveries",
    "plan_deliveries_anytime",
]
