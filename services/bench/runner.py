"""`hinterland bench routing`: benchmark instances through dispatch's solve(), re-checked.

PyVRP and VROOM (optional extras, ``services/bench/others.py``) run beside it on the same
integer data and budget; every solver's routes are scored by the same ``score()``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.bench.checker import Check, check
from services.bench.convert import Objective, to_problem
from services.bench.instances import Bks, Instance, bks_for, read_instance
from services.bench.others import (
    VROOM_EXPLORATION,
    VROOM_THREADS,
    Solved,
    SolverName,
    default_solvers,
    installed,
    parse_solvers,
    solve_pyvrp,
    solve_vroom,
)
from services.dispatch.routing.ortools_solver import ITERATED_LOCAL_SEARCH, solve
from services.dispatch.routing.params import SolverParams

SETS = ("solomon", "homberger", "lilim")
_SUFFIXES = (".vrp", ".txt")
# Distribution of each optional solver (for the version in the header line).
_DISTRIBUTIONS = {"pyvrp": "pyvrp", "vroom": "pyvroom"}
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Row:
    """One instance solved by one solver, re-scored by the checker (None: no routes).

    ``status`` says why there is no result: ``no solution``, ``unsupported`` (the solver
    cannot model this kind of instance) or ``not installed``; ``note`` adds detail.
    """

    instance: str
    solver: str
    customers: int
    result: Check | None
    bks_distance: Bks | None
    bks_hierarchical: Bks | None
    seconds: float
    status: str = "solved"
    note: str = ""

    @property
    def gap_d(self) -> float | None:
        """Truncated distance vs the distance-only (DIMACS) BKS, in percent."""
        if self.result is None or self.bks_distance is None:
            return None
        return 100 * (self.result.distance_trunc / self.bks_distance.distance - 1)

    @property
    def gap_h(self) -> float | None:
        """Real distance vs the hierarchical (SINTEF) BKS distance, in percent."""
        if self.result is None or self.bks_hierarchical is None:
            return None
        return 100 * (self.result.distance / self.bks_hierarchical.distance - 1)


def default_data_dir() -> Path:
    """``$HINTERLAND_BENCHMARKS``, else ``../shared/benchmarks`` beside the repository."""
    configured = os.environ.get("HINTERLAND_BENCHMARKS")
    return Path(configured) if configured else _REPO_ROOT.parent / "shared" / "benchmarks"


def _instances_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in _SUFFIXES)


def resolve(targets: Sequence[str], data_dir: Path) -> list[Path]:
    """Expand files, directories, set names and bare instance names into instance files."""
    found: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(_instances_in(path))
        elif target.lower() in SETS:
            directory = data_dir / target.lower()
            if not directory.is_dir():
                raise ValueError(f"set {target!r}: no directory {directory}")
            found.extend(_instances_in(directory))
        else:
            matches = [
                candidate
                for name in SETS
                if (data_dir / name).is_dir()
                for candidate in _instances_in(data_dir / name)
                if candidate.stem.lower() == target.lower()
            ]
            if not matches:
                raise ValueError(
                    f"{target!r} is neither a file, a directory, a set ({', '.join(SETS)}) "
                    f"nor an instance name under {data_dir}"
                )
            found.append(matches[0])
    return found


def run_ortools(
    instance: Instance, params: SolverParams, scale: int, objective: Objective
) -> Solved:
    """Solve with dispatch's solve(); the routes as customer sequences, or no solution."""
    problem = to_problem(instance, scale=scale, objective=objective)
    started = time.perf_counter()
    solution = solve(problem, params)
    seconds = time.perf_counter() - started
    if not solution.found:
        return Solved("no solution", seconds=seconds)
    routes = tuple(tuple(node for node in route.nodes if node != 0) for route in solution.routes)
    return Solved("solved", tuple(route for route in routes if route), seconds)


def score(instance: Instance, solver: str, solved: Solved, bks: dict[str, Bks]) -> Row:
    """The one scoring path of every solver: check the routes on the instance, attach BKS."""
    result = check(instance, solved.routes) if solved.status == "solved" else None
    return Row(
        instance.name,
        solver,
        instance.num_customers,
        result,
        bks.get("distance"),
        bks.get("hierarchical"),
        solved.seconds,
        solved.status,
        solved.note,
    )


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _gap(value: float | None) -> str:
    # round() then + 0.0 turns -0.0004 into +0.00 rather than -0.00.
    return "-" if value is None else f"{round(value, 2) + 0.0:+.2f}"


def _bks_text(bks: Bks | None) -> str:
    return "-" if bks is None else f"{bks.vehicles}/{bks.distance:g}"


_COLUMNS = (
    ("instance", 10),
    ("solver", 8),
    ("veh", 4),
    ("distance", 10),
    ("trunc", 10),
    ("BKS-d", 13),
    ("gap_d%", 7),
    ("BKS-h", 15),
    ("gap_h%", 7),
    ("feasible", 13),
    ("solve_s", 7),
)


def _line(cells: Sequence[str]) -> str:
    return " ".join(cell.rjust(width) for cell, (_, width) in zip(cells, _COLUMNS, strict=True))


def _cells(row: Row) -> list[str]:
    result = row.result
    if result is None:
        feasible = "no sol" if row.status == "no solution" else row.status
    else:
        feasible = "yes" if result.feasible else "NO"
    return [
        row.instance,
        row.solver,
        "-" if result is None else str(result.vehicles),
        _fmt(None if result is None else result.distance, ".2f"),
        _fmt(None if result is None else result.distance_trunc, ".1f"),
        _bks_text(row.bks_distance),
        _gap(row.gap_d),
        _bks_text(row.bks_hierarchical),
        _gap(row.gap_h),
        feasible,
        f"{row.seconds:.1f}",
    ]


def write_csv(rows: Sequence[Row], out: Path) -> None:
    """One line per (instance, solver) with raw figures; empty cells for missing values."""
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "instance",
                "solver",
                "customers",
                "found",
                "feasible",
                "vehicles",
                "distance",
                "distance_trunc",
                "bks_d_vehicles",
                "bks_d_distance",
                "gap_d_pct",
                "bks_h_vehicles",
                "bks_h_distance",
                "gap_h_pct",
                "solve_s",
                "violations",
                "status",
                "note",
            ]
        )
        for row in rows:
            r, d, h = row.result, row.bks_distance, row.bks_hierarchical
            writer.writerow(
                [
                    row.instance,
                    row.solver,
                    row.customers,
                    r is not None,
                    "" if r is None else r.feasible,
                    "" if r is None else r.vehicles,
                    "" if r is None else f"{r.distance:.4f}",
                    "" if r is None else f"{r.distance_trunc:.1f}",
                    "" if d is None else d.vehicles,
                    "" if d is None else d.distance,
                    "" if row.gap_d is None else f"{round(row.gap_d, 3) + 0.0:.3f}",
                    "" if h is None else h.vehicles,
                    "" if h is None else h.distance,
                    "" if row.gap_h is None else f"{round(row.gap_h, 3) + 0.0:.3f}",
                    f"{row.seconds:.2f}",
                    "" if r is None else "; ".join(r.violations),
                    row.status,
                    row.note,
                ]
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hinterland bench routing",
        description=(
            "Solve Solomon / Gehring-Homberger / Li-Lim instances with the dispatch routing "
            "core (services.dispatch.routing.ortools_solver.solve) and, if installed, PyVRP "
            "and VROOM, re-check every solution from the coordinates and compare with the "
            "best-known solutions."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="instance files, directories, set names (solomon, homberger, lilim) or "
        "instance names (C101, R1_2_1, lc101) looked up in the data directory",
    )
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per instance and solver")
    parser.add_argument(
        "--solvers",
        default=None,
        metavar="LIST",
        help="comma-separated, from ortools,pyvrp,vroom (default: ortools plus whichever of "
        "pyvrp, vroom is importable; `pip install -e '.[bench]'` installs them, as `make venv` "
        "does)",
    )
    parser.add_argument("--seed", type=int, default=1, help="PyVRP's random seed")
    parser.add_argument(
        "--solution-limit",
        type=int,
        default=None,
        help="OR-Tools only: also stop after this many solutions (machine-independent)",
    )
    parser.add_argument("--first-solution", default="PARALLEL_CHEAPEST_INSERTION")
    parser.add_argument(
        "--metaheuristic",
        default=ITERATED_LOCAL_SEARCH,
        help="OR-Tools only: a LocalSearchMetaheuristic name (GUIDED_LOCAL_SEARCH, ...) or "
        f"{ITERATED_LOCAL_SEARCH} (ruin and recreate; the default)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="OR-Tools only: processes (default: the routing core's, 2); a search of 10 s "
        "or more runs as a portfolio from other first solutions in the spare ones, 1 "
        "searches in this process alone",
    )
    parser.add_argument(
        "--objective",
        choices=("distance", "hierarchical"),
        default="distance",
        help="distance only, or a vehicle fixed cost so that vehicles are minimised first",
    )
    parser.add_argument("--scale", type=int, default=100, help="distance multiplier")
    parser.add_argument("--csv", type=Path, metavar="OUT.csv", help="write the rows here")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="benchmark data (default: $HINTERLAND_BENCHMARKS or ../shared/benchmarks)",
    )
    return parser


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _mean(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    return f"{round(statistics.fmean(present), 2) + 0.0:+.2f}% over {len(present)}"


def summary(rows: Sequence[Row], solvers: Sequence[str]) -> list[str]:
    """One line per solver (solved count, mean gaps), then the means on common ground.

    Means over different sets of instances do not compare, so when more than one solver ran
    a last line gives each solver's mean gap_d over the instances every solver solved.
    """
    lines: list[str] = []
    for solver in solvers:
        mine = [row for row in rows if row.solver == solver]
        solved = sum(row.result is not None for row in mine)
        lines.append(
            f"{solver}: solved {solved}/{len(mine)}; "
            f"mean gap_d {_mean([r.gap_d for r in mine])}; "
            f"mean gap_h {_mean([r.gap_h for r in mine])}"
        )
    if len(solvers) > 1:
        by_instance: dict[str, dict[str, Row]] = {}
        for row in rows:
            by_instance.setdefault(row.instance, {})[row.solver] = row
        common = [
            cells
            for cells in by_instance.values()
            if all(solver in cells and cells[solver].gap_d is not None for solver in solvers)
        ]
        means = ", ".join(
            f"{solver} {_mean([cells[solver].gap_d for cells in common])}" for solver in solvers
        )
        lines.append(
            f"instances every solver solved (with a distance BKS): {len(common)}"
            + (f"; mean gap_d {means}" if common else "")
        )
    return lines


def _version(solver: str) -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS[solver])
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _solve_one(
    solver: SolverName,
    instance: Instance,
    params: SolverParams,
    args: argparse.Namespace,
) -> Solved:
    if solver == "ortools":
        return run_ortools(instance, params, args.scale, args.objective)
    if solver == "pyvrp":
        return solve_pyvrp(instance, args.budget, args.scale, args.objective, args.seed)
    return solve_vroom(instance, args.scale, args.objective)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark: 0 if every solution passes the checker, 1 if one fails, 2 on bad input."""
    args = _parser().parse_args(argv)
    data_dir: Path = args.data_dir or default_data_dir()
    try:
        solvers = default_solvers() if args.solvers is None else parse_solvers(args.solvers)
        params = SolverParams(
            time_limit_s=args.budget,
            solution_limit=args.solution_limit,
            first_solution=args.first_solution,
            metaheuristic=args.metaheuristic,
            **({} if args.workers is None else {"workers": args.workers}),
        )
        paths = resolve(args.paths, data_dir)
        instances = [read_instance(path) for path in paths]
    except ValueError as error:
        sys.stderr.write(f"bench routing: {error}\n")
        return 2
    _say(
        f"budget={args.budget:g}s per instance and solver, objective={args.objective}, "
        f"scale={args.scale}, one solver run at a time"
    )
    if "ortools" in solvers:
        _say(
            f"ortools via services.dispatch.routing.ortools_solver.solve: "
            f"first_solution={params.first_solution} metaheuristic={params.metaheuristic} "
            f"solution_limit={args.solution_limit} workers={params.workers}"
        )
    for solver in solvers:
        if solver == "ortools":
            continue
        if not installed(solver):
            _say(f"{solver}: not installed (`pip install -e '.[bench]'`), its rows say so")
        elif solver == "pyvrp":
            _say(f"pyvrp {_version(solver)}: MaxRuntime(budget), seed={args.seed}")
        else:
            _say(
                f"vroom (pyvroom {_version(solver)}): exploration level {VROOM_EXPLORATION}, "
                f"{VROOM_THREADS} thread, no time limit (it stops by itself; time recorded)"
            )
    _say(_line([name for name, _ in _COLUMNS]))
    rows: list[Row] = []
    for instance in instances:
        bks = bks_for(instance)
        for solver in solvers:
            try:
                solved = _solve_one(solver, instance, params, args)
            except ValueError as error:
                sys.stderr.write(f"bench routing: {instance.name}: {solver}: {error}\n")
                return 2
            row = score(instance, solver, solved, bks)
            rows.append(row)
            _say(_line(_cells(row)))
            if row.result is not None and not row.result.feasible:
                _say(f"  checker: {'; '.join(row.result.violations[:5])}")
            if row.note:
                _say(f"  {solver}: {row.note}")
    for line in summary(rows, solvers):
        _say(line)
    if args.csv is not None:
        write_csv(rows, args.csv)
        _say(f"wrote {args.csv}")
    infeasible = any(row.result is not None and not row.result.feasible for row in rows)
    return 1 if infeasible else 0


if __name__ == "__main__":
    raise SystemExit(main())
