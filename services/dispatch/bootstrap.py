"""The only wiring point of the dispatch service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faststream import FastStream

from contracts import streams
from services.dispatch.adapters import tables
from services.dispatch.app.handlers import HANDLED, ORDERS_LOCK, handle
from services.dispatch.app.handlers import INGRESS_TYPES as NEEDS_AND_ALERTS
from services.dispatch.app.planner import BusSettled, Planner, Settler, solve, solve_inline
from services.dispatch.routing import SolverParams
from services.dispatch.settings import DispatchSettings
from services.runtime.service import ServiceRuntime, ServiceSpec

SPEC = ServiceSpec(
    name="dispatch",
    metadata=tables.metadata,
    outbox=tables.outbox,
    inbox=tables.inbox,
    inputs=(streams.INGRESS, streams.RESERVES, streams.TRANSPORT),
    output=streams.DISPATCH,
    handler=handle,
    handled_types={
        streams.INGRESS: NEEDS_AND_ALERTS,
        streams.RESERVES: HANDLED,
        streams.TRANSPORT: HANDLED,
    },
    migrations=Path(__file__).parent / "migrations",
    lock_key=ORDERS_LOCK,
)


def create_runtime(
    settings: DispatchSettings | None = None,
    settler: Callable[[ServiceRuntime], Settler] | None = None,
) -> tuple[ServiceRuntime, Planner]:
    s = settings or DispatchSettings()
    runtime = ServiceRuntime(SPEC, s)
    params = SolverParams(
        time_limit_s=s.time_limit_s,
        solution_limit=s.solution_limit,
        first_solution=s.first_solution,
        metaheuristic=s.metaheuristic,
    )
    planner = Planner(
        runtime.sessions,
        tables.outbox,
        runtime.stream(streams.DISPATCH),
        settler(runtime)
        if settler
        else BusSettled(
            runtime.redis,
            [runtime.stream(name) for name in SPEC.inputs],
            s.debounce_s,
            max_wait_s=s.settle_max_s,
        ),
        params,
        runtime.relay.wake,
        solver=solve if s.solver_process else solve_inline,
        churn_cost_per_t=s.churn_cost_per_t,
    )
    runtime.listeners.append(planner.wake)

    async def run_planner(_: ServiceRuntime) -> None:
        await planner.run()

    runtime.background = (run_planner,)
    return runtime, planner


def create_app(settings: DispatchSettings | None = None) -> FastStream:
    """``faststream run services.dispatch.bootstrap:create_app --factory`` (no HTTP API)."""
    return create_runtime(settings)[0].app()
