"""`hinterland bench scenario`: the national-scale and regional scenario benchmarks (issue 3, 5).

Both go through ``plan_deliveries_anytime``, the generator behind dispatch's
``plan_deliveries`` (same code path; the anytime form only lets us time the first feasible
plan), and print:

- **national** (``national.national_problem``): time to the first feasible plan, time to the
  budgeted plan, peak memory of this process and its solver subprocesses, and the served
  fraction of the physical limit (priority-weighted, ``PlanKpis.served_fraction_of_bound``);
- **regional** (``regional.regional_problem``, the Sichuan reference just before and after the
  G85 bridge cut): the plan before the cut with dispatch's settings, then the re-plan after
  it: time to the first feasible plan (a one-solution search), time to the budgeted plan,
  served fraction of the limit, and churn against the plan before the cut; then that re-plan
  as dispatch makes it, warm-started from the plan before the cut with its churn cost;
- **multimodal** (only with ``--multimodal``): the regional problem after the cut planned
  without hubs and with a hub at every road/rail-water-air junction (1 h transfer, no
  throughput limit): served fraction of the limit, fill rates, and tonnes carried by chains;
- **national re-plan** (only with ``--national-replan``): the national plan, then the depot it
  draws most from lost, re-planned from scratch and against the plan in force with
  dispatch's churn cost: times, served fraction of the limit, churn of both re-plans' first
  and budgeted plans, and the share the loss forces.

Churn is the share of the planned kilograms whose (need, depot, vehicle) assignment is not in
both plans: ``1 - sum(min(before, after)) / max(sum(before), sum(after))`` over those keys.

Peak memory is sampled every 50 ms as the summed resident set size (VmRSS) of this process
and all its descendants (shared pages are counted once per process, so it errs high), and
also reported as ``ru_maxrss`` of this process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from services.dispatch.routing import LogisticsPlan, LogisticsProblem, PreviousLeg, SolverParams
from services.dispatch.routing.decomposition import estimated_tasks, uses_decomposition
from services.dispatch.routing.planner import plan_deliveries_anytime
from services.dispatch.settings import DispatchSettings

# Dispatch's defaults (services/dispatch/settings.py): 50 solutions, 30 s backstop.
DISPATCH_PARAMS = SolverParams(time_limit_s=30.0, solution_limit=50)
CHURN_COST: float = DispatchSettings.model_fields["churn_cost_per_t"].default


@dataclass(frozen=True, slots=True)
class Run:
    """One planning call: when each plan came and what the last one achieved."""

    first_s: float
    final_s: float
    plans: int
    peak_rss_mb: float
    maxrss_mb: float
    served_fraction_of_bound: float
    fill_rate: float
    priority_weighted_fill: float
    weighted_bound_t: float
    vehicles_used: int
    distance_km: float
    objective: int
    decomposed: bool


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_rss_mb(root: int | None = None) -> float:
    """Summed VmRSS of a process and its descendants, in MB (0 where /proc is missing)."""
    total_kb = 0
    for pid in _descendants(os.getpid() if root is None else root):
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            continue
    return total_kb / 1024


class MemorySampler:
    """Peak of ``tree_rss_mb`` while running, sampled in a thread."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.peak_mb = 0.0
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, tree_rss_mb())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb())
            self._stop.wait(self._every)


def run(problem: LogisticsProblem, params: SolverParams) -> tuple[Run, LogisticsPlan]:
    """Plan ``problem`` through the anytime entry point, timing and sampling memory."""
    figures, last, _ = run_anytime(problem, params)
    return figures, last


def run_anytime(
    problem: LogisticsProblem, params: SolverParams
) -> tuple[Run, LogisticsPlan, LogisticsPlan]:
    """``run``, also returning the first plan (the last is the budgeted one)."""
    first: float | None = None
    first_plan: LogisticsPlan | None = None
    plans = 0
    last: LogisticsPlan | None = None
    with MemorySampler() as sampler:
        started = time.perf_counter()
        for plan in plan_deliveries_anytime(problem, params):
            if first is None:
                first = time.perf_counter() - started
                first_plan = plan
            plans += 1
            last = plan
        final = time.perf_counter() - started
    if last is None or first is None or first_plan is None:  # pragma: no cover - always yields
        raise RuntimeError("no plan")
    k = last.kpis
    return (
        Run(
            first_s=round(first, 3),
            final_s=round(final, 3),
            plans=plans,
            peak_rss_mb=round(sampler.peak_mb, 1),
            maxrss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            served_fraction_of_bound=round(k.served_fraction_of_bound or 0.0, 4),
            fill_rate=round(k.fill_rate, 4),
            priority_weighted_fill=round(k.priority_weighted_fill, 4),
            weighted_bound_t=round((k.weighted_bound_kg or 0) / 1000, 1),
            vehicles_used=k.vehicles_used,
            distance_km=round(k.distance_m / 1000, 1),
            objective=k.objective,
            decomposed=uses_decomposition(problem, params),
        ),
        last,
        first_plan,
    )


def legs(plan: LogisticsPlan) -> tuple[PreviousLeg, ...]:
    """A plan as the plan in force of the next re-plan (none of it dispatched yet)."""
    return tuple(
        PreviousLeg(a.vehicle_id, a.need_id, a.depot_id, a.quantity_kg) for a in plan.allocations
    )


def churn(before: LogisticsPlan, after: LogisticsPlan) -> float:
    """Share of planned kilograms whose (need, depot, vehicle) is not common to both plans."""

    def amounts(plan: LogisticsPlan) -> dict[tuple[str, str, str], int]:
        result: dict[tuple[str, str, str], int] = defaultdict(int)
        for a in plan.allocations:
            result[(a.need_id, a.depot_id, a.vehicle_id)] += a.quantity_kg
        return result

    old, new = amounts(before), amounts(after)
    total = max(sum(old.values()), sum(new.values()))
    if total == 0:
        return 0.0
    kept = sum(min(kg, new.get(key, 0)) for key, kg in old.items())
    return 1 - kept / total


def _size(problem: LogisticsProblem) -> dict[str, int]:
    return {
        "nodes": len(problem.nodes),
        "links": len(problem.links),
        "depots": len(problem.depots),
        "vehicles": len(problem.vehicles),
        "needs": len(problem.needs),
        "estimated_tasks": estimated_tasks(problem),
    }


def national(
    scale: float, budget_s: float, workers: int, seed: int, solution_limit: int | None = None
) -> dict[str, object]:
    """Build and plan the national problem; the figures as a dict."""
    from services.bench.national import national_problem

    started = time.perf_counter()
    problem = national_problem(scale, seed)
    built = time.perf_counter() - started
    params = SolverParams(time_limit_s=budget_s, solution_limit=solution_limit, workers=workers)
    result, _ = run(problem, params)
    return {"problem": _size(problem), "build_s": round(built, 2), **asdict(result)}


def regional(budget_s: float) -> dict[str, object]:
    """Plan the Sichuan reference before the cut, then re-plan after it; the figures."""
    from services.bench.regional import regional_problem

    before_problem = regional_problem(cut=False)
    after_problem = regional_problem(cut=True)
    budgeted = SolverParams(time_limit_s=budget_s, solution_limit=DISPATCH_PARAMS.solution_limit)
    first_only = SolverParams(time_limit_s=budget_s, solution_limit=1)
    before_run, before = run(before_problem, budgeted)
    first_run, first_plan = run(after_problem, first_only)
    after_run, after = run(after_problem, budgeted)
    # As dispatch re-plans: the plan before the cut, none of it dispatched yet, warm-starts
    # the search and every tonne moved to another vehicle or depot costs the churn cost.
    against_before = replace(after_problem, previous=legs(before), churn_cost_per_t=CHURN_COST)
    kept_run, kept = run(against_before, budgeted)
    return {
        "problem": _size(after_problem),
        "before_cut": asdict(before_run),
        "replan_first_feasible": {
            **asdict(first_run),
            "churn": round(churn(before, first_plan), 4),
        },
        "replan_budgeted": {**asdict(after_run), "churn": round(churn(before, after), 4)},
        "replan_with_churn_cost": {
            **asdict(kept_run),
            "churn": round(churn(before, kept), 4),
            "churn_cost_per_t": against_before.churn_cost_per_t,
        },
    }


def national_replan(
    scale: float, budget_s: float, workers: int, seed: int, solution_limit: int | None = None
) -> dict[str, object]:
    """The national plan; then the depot it draws most from is lost, and the problem is
    re-planned from scratch and against the plan in force with dispatch's churn cost.

    ``forced`` is the share of the planned kilograms that came from the lost depot: a re-plan
    that keeps everything else has that churn and no more.
    """
    from services.bench.national import national_problem

    problem = national_problem(scale, seed)
    params = SolverParams(time_limit_s=budget_s, solution_limit=solution_limit, workers=workers)
    before_run, before = run(problem, params)
    drawn: dict[str, int] = defaultdict(int)
    for a in before.allocations:
        drawn[a.depot_id] += a.quantity_kg
    lost = max(drawn, key=lambda depot: (drawn[depot], depot))
    after = replace(
        problem,
        depots=tuple(replace(d, usable=False) if d.id == lost else d for d in problem.depots),
    )
    scratch_run, scratch_first, scratch = run_anytime(after, params)
    against = replace(after, previous=legs(before), churn_cost_per_t=CHURN_COST)
    kept_run, kept_first, kept = run_anytime(against, params)
    return {
        "problem": {**_size(problem), "lost_depot": lost},
        "forced": round(drawn[lost] / sum(drawn.values()), 4),
        "before": asdict(before_run),
        "replan_from_scratch": {
            **asdict(scratch_run),
            "churn_first_plan": round(churn(before, scratch_first), 4),
            "churn": round(churn(before, scratch), 4),
        },
        "replan_with_churn_cost": {
            **asdict(kept_run),
            "churn_first_plan": round(churn(before, kept_first), 4),
            "churn": round(churn(before, kept), 4),
            "churn_cost_per_t": CHURN_COST,
        },
    }


def multimodal(budget_s: float, transfer_s: int = 3600) -> dict[str, object]:
    """The Sichuan reference after the cut planned without hubs, then with a hub at every
    road/rail-water-air junction (``regional.junction_hubs``): multimodal chains' effect."""
    from services.bench.regional import junction_hubs, regional_problem

    problem = regional_problem(cut=True)
    hubs = junction_hubs(problem, transfer_s)
    params = SolverParams(time_limit_s=budget_s, solution_limit=DISPATCH_PARAMS.solution_limit)
    without_run, _ = run(problem, params)
    with_run, plan = run(replace(problem, hubs=hubs), params)
    chained = sum(a.quantity_kg for a in plan.allocations if a.hub_node_id is not None)
    return {
        "problem": {**_size(problem), "hubs": len(hubs), "transfer_s": transfer_s},
        "without_hubs": asdict(without_run),
        "with_hubs": {**asdict(with_run), "chained_t": round(chained / 1000, 1)},
    }


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _print_run(title: str, figures: dict[str, object]) -> None:
    _say(f"  {title}")
    for key, value in figures.items():
        _say(f"    {key:28} {value}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--national] [--regional] [--multimodal] [--national-replan]
    [--scale S] [--budget S] [--workers N] [--solution-limit N] [--seed N]
    [--regional-budget S] [--json OUT]``;
    national and regional when none is named. Returns the exit code (0)."""
    parser = argparse.ArgumentParser(
        prog="hinterland bench scenario",
        description="National-scale and regional (Sichuan, G85 cut) planning benchmarks.",
    )
    parser.add_argument("--national", action="store_true", help="run the national problem")
    parser.add_argument("--regional", action="store_true", help="run the regional re-plan")
    parser.add_argument(
        "--multimodal",
        action="store_true",
        help="regional after the cut without and with hubs at the junctions (only when named)",
    )
    parser.add_argument(
        "--national-replan",
        action="store_true",
        help="national plan, its busiest depot lost, re-planned with and without the plan in "
        "force (only when named)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="national size factor")
    parser.add_argument("--budget", type=float, default=60.0, help="national budget, s")
    parser.add_argument(
        "--regional-budget", type=float, default=30.0, help="regional wall-clock backstop, s"
    )
    parser.add_argument("--workers", type=int, default=2, help="solver processes")
    parser.add_argument("--seed", type=int, default=2026, help="national problem seed")
    parser.add_argument(
        "--solution-limit",
        type=int,
        help="national: also stop each search after this many solutions (dispatch uses 50)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.budget <= 0 or args.workers <= 0:
        parser.error("--scale, --budget and --workers must be > 0")
    both = not (args.national or args.regional or args.multimodal or args.national_replan)
    figures: dict[str, dict[str, object]] = {}
    if args.multimodal:
        figures["multimodal"] = multimodal(args.regional_budget)
        _say("multimodal (sichuan-earthquake at +2 h, G85 cut, hubs at the junctions):")
        for key, value in figures["multimodal"].items():
            if isinstance(value, dict):
                _print_run(key, value)
    if args.regional or both:
        figures["regional"] = regional(args.regional_budget)
        _say("regional (sichuan-earthquake at +2 h, G85 bridge cut):")
        for key, value in figures["regional"].items():
            if isinstance(value, dict):
                _print_run(key, value)
    if args.national or both:
        figures["national"] = national(
            args.scale, args.budget, args.workers, args.seed, args.solution_limit
        )
        _say(f"national (scale {args.scale}, budget {args.budget} s, {args.workers} workers):")
        _print_run("figures", figures["national"])
    if args.national_replan:
        figures["national_replan"] = national_replan(
            args.scale, args.budget, args.workers, args.seed, args.solution_limit
        )
        _say(f"national re-plan (scale {args.scale}, budget {args.budget} s, busiest depot lost):")
        for key, value in figures["national_replan"].items():
            if isinstance(value, dict):
                _print_run(key, value)
            else:
                _say(f"  {key:30} {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
