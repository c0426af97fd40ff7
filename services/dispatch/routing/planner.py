"""plan_deliveries: network, allocation, OR-Tools routing and plan assembly in one call.

Problems of today's sizes go through one routing model of every task (``_plan_direct``);
with hubs, trunk legs to hubs for what the allocation cannot source join that model, road
legs from the hubs follow, and a second round of chains takes what is still short
(``chains``).
Above ``SolverParams.decompose_above_tasks`` estimated tasks the same entry point plans by
decomposition (``decomposition.plan_decomposed``): same output, same reasons, but no chains
(that path ignores hubs; its physical limit still counts them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

from services.dispatch.routing.allocation import allocate
from services.dispatch.routing.assembly import Part, assemble, build_routing, warm_start
from services.dispatch.routing.bound import delivery_bound
from services.dispatch.routing.chains import add_chains, allocated, carry_on, offer_trunks
from services.dispatch.routing.decomposition import plan_decomposed, uses_decomposition
from services.dispatch.routing.insertion import greedy_start
from services.dispatch.routing.network import Network
from services.dispatch.routing.ortools_solver import RoutingSolution, solve
from services.dispatch.routing.params import SolverParams
from services.dispatch.routing.plan import PRIORITY_WEIGHT, LogisticsPlan
from services.dispatch.routing.problem import LogisticsProblem

__all__ = ["PRIORITY_WEIGHT", "plan_deliveries", "plan_deliveries_anytime"]


def plan_deliveries(problem: LogisticsProblem, params: SolverParams) -> LogisticsPlan:
    """Plan which stock goes where, by which vehicle, along which links.

    Parameters
    ----------
    problem
        The validated network, depots, needs and fleet; time zero is now.
    params
        Search settings; give a ``solution_limit`` (and no time limit) for reproducible plans.

    Returns
    -------
    LogisticsPlan
        Routes sorted by vehicle id (used vehicles only), allocations sorted by need, depot and
        vehicle, one outcome per need sorted by need id, and KPIs (with the served fraction of
        the physical limit). ``is_feasible`` is False only when the solver found no solution;
        unmet needs are outcomes, never exceptions.
    """
    plan: LogisticsPlan | None = None
    for plan in plan_deliveries_anytime(problem, params):  # noqa: B007 - the last one counts
        pass
    if plan is None:  # pragma: no cover - both paths yield at least one plan
        raise RuntimeError("routing core: no plan")
    return plan


def plan_deliveries_anytime(
    problem: LogisticsProblem, params: SolverParams
) -> Iterator[LogisticsPlan]:
    """Yield successively better plans for ``problem``; the last is ``plan_deliveries``'.

    The direct path yields one plan. The decomposed path yields a first feasible plan (the
    allocation plus greedy insertion) as soon as it has one, then the plan improved by
    OR-Tools within the budget.
    """
    if uses_decomposition(problem, params):
        yield from plan_decomposed(problem, params)
        return
    yield _plan_direct(problem, params)


def _plan_direct(problem: LogisticsProblem, params: SolverParams) -> LogisticsPlan:
    started = time.monotonic()
    network = Network(problem)
    allocation = allocate(problem, network, params)
    offer = None
    routed = allocation
    if problem.hubs:
        # Trunk legs for what the allocation cannot source compete with the direct tasks
        # for the vehicles in one routing model, by the same priority-tiered penalties.
        offer = offer_trunks(problem, network, params, allocated(allocation), allocation.shortfalls)
        routed = replace(allocation, tasks=allocation.tasks + offer.tasks)
    layout, routing_problem = build_routing(problem, network, routed)
    if routing_problem is None:
        solution = RoutingSolution(True, 0, (), ())
    else:
        # The plan in force's legs start the search and, should it find nothing, the greedy
        # trips it falls back on.
        kept = warm_start(layout, problem.previous)
        solution = solve(
            routing_problem,
            params,
            kept,
            fallback_routes=lambda: greedy_start(routing_problem, kept),
        )
    parts = [Part(layout, solution)]
    shortfalls = list(allocation.shortfalls)
    if offer is not None:
        stop_at = None if params.time_limit_s is None else started + params.time_limit_s
        parts, shortfalls = carry_on(
            problem, network, params, parts, routing_problem, offer, stop_at, share=0.5
        )
        # A second round for what is still short (tasks the router dropped, say), with the
        # vehicles as the first round leaves them.
        parts, shortfalls = add_chains(problem, network, params, parts, shortfalls, stop_at)
    return assemble(problem, network, shortfalls, parts, delivery_bound(problem))
