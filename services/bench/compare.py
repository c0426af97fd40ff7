"""`hinterland bench compare`: the side-by-side the issue asks for, from `bench routing` CSVs.

The runner prints each solver's mean gaps, but a mean says little about "always ahead of VROOM
and within 0.5 points of PyVRP": that is a per-instance comparison on the instances both
solvers solved, at the same budget. This reads one or more of the runner's CSVs (a set split
over both cores is two files) and prints, per solver, what it solved and how far from the
best-known solutions, then OR-Tools against each other solver instance by instance.

The order of two results follows the objective: distance alone (``distance``), or vehicles
first and then distance (``hierarchical``, the Li & Lim convention). Gaps are the runner's:
``gap_d`` against the distance-only BKS where the set has one, else ``gap_h``, the real
distance against the hierarchical BKS.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Objective = Literal["distance", "hierarchical"]
BASE = "ortools"
_LEVEL = 1e-4
"""Relative difference in distance below which two results count as level (the CSV keeps four
decimals, and two solvers may round the same routes' lengths differently)."""
_COLUMNS = (
    "instance",
    "solver",
    "feasible",
    "vehicles",
    "distance",
    "gap_d_pct",
    "gap_h_pct",
    "bks_d_vehicles",
    "bks_h_vehicles",
)


@dataclass(frozen=True, slots=True)
class Result:
    """One feasible (instance, solver) row of a runner CSV."""

    instance: str
    solver: str
    vehicles: int
    distance: float
    gap_d: float | None
    gap_h: float | None
    bks_vehicles: int | None

    def gap(self, by_distance_bks: bool) -> float | None:
        return self.gap_d if by_distance_bks else self.gap_h


@dataclass(frozen=True, slots=True)
class Tally:
    """A solver's rows: how many there are, and its feasible results."""

    rows: int
    feasible: list[Result]


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def read(paths: Iterable[Path]) -> tuple[dict[str, Tally], dict[tuple[str, str], Result]]:
    """Every row of the CSVs; an (instance, solver) pair twice is an error (which run counts?)."""
    rows: dict[str, int] = {}
    results: dict[tuple[str, str], Result] = {}
    seen: set[tuple[str, str]] = set()
    for path in paths:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = sorted(set(_COLUMNS) - set(reader.fieldnames or ()))
            if missing:
                raise ValueError(f"{path} is not a bench routing CSV: no {', '.join(missing)}")
            for line in reader:
                key = (line["instance"], line["solver"])
                if key in seen:
                    raise ValueError(f"{key[0]} by {key[1]} appears twice (last in {path})")
                seen.add(key)
                rows[key[1]] = rows.get(key[1], 0) + 1
                if line["feasible"] != "True":
                    continue
                bks_vehicles = line["bks_h_vehicles"] or line["bks_d_vehicles"]
                results[key] = Result(
                    instance=key[0],
                    solver=key[1],
                    vehicles=int(line["vehicles"]),
                    distance=float(line["distance"]),
                    gap_d=_number(line["gap_d_pct"]),
                    gap_h=_number(line["gap_h_pct"]),
                    bks_vehicles=int(bks_vehicles) if bks_vehicles else None,
                )
    tallies = {
        solver: Tally(count, [r for (_, s), r in sorted(results.items()) if s == solver])
        for solver, count in rows.items()
    }
    return tallies, results


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{round(value, 2) + 0.0:+.2f}%"


def _order(a: Result, b: Result, objective: Objective) -> int:
    """-1 when ``a`` is better, 0 level, 1 worse."""
    if objective == "hierarchical" and a.vehicles != b.vehicles:
        return -1 if a.vehicles < b.vehicles else 1
    if abs(a.distance - b.distance) <= _LEVEL * max(a.distance, b.distance):
        return 0
    return -1 if a.distance < b.distance else 1


def report(
    tallies: dict[str, Tally], results: dict[tuple[str, str], Result], objective: Objective
) -> list[str]:
    """The lines `bench compare` prints (see the module docstring)."""
    by_distance_bks = all(r.gap_d is not None for r in results.values())
    gap_name = "gap_d" if by_distance_bks else "gap_h"
    lines = []
    for solver in sorted(tallies, key=lambda s: (s != BASE, s)):
        tally = tallies[solver]
        at_fleet = [
            r for r in tally.feasible if r.bks_vehicles is not None and r.vehicles <= r.bks_vehicles
        ]
        lines.append(
            f"{solver}: feasible {len(tally.feasible)}/{tally.rows}; at or below the best-known "
            f"vehicle count {len(at_fleet)}; mean {gap_name} "
            f"{_pct(_mean([r.gap(by_distance_bks) for r in tally.feasible]))}"
        )
    for other in sorted(s for s in tallies if s != BASE):
        pairs = [
            (results[(instance, BASE)], mine)
            for (instance, solver), mine in sorted(results.items())
            if solver == other and (instance, BASE) in results
        ]
        if not pairs:
            lines.append(f"{BASE} vs {other}: no instance both solved")
            continue
        orders = [_order(base, mine, objective) for base, mine in pairs]
        ours = _mean([base.gap(by_distance_bks) for base, _ in pairs])
        theirs = _mean([mine.gap(by_distance_bks) for _, mine in pairs])
        points = None if ours is None or theirs is None else ours - theirs
        behind = [pair for pair, order in zip(pairs, orders, strict=True) if order > 0]
        furthest = max(
            behind,
            key=lambda p: (
                p[0].vehicles - p[1].vehicles if objective == "hierarchical" else 0,
                p[0].distance / p[1].distance,
            ),
            default=None,
        )
        lines.append(
            f"{BASE} vs {other}, {len(pairs)} instances both solved ({objective}): "
            f"mean {gap_name} {_pct(ours)} vs {_pct(theirs)} "
            f"({'-' if points is None else f'{points:+.2f}'} points); {BASE} ahead on "
            f"{orders.count(-1)}, level on {orders.count(0)}, behind on {orders.count(1)}; "
            f"vehicles {sum(b.vehicles for b, _ in pairs)} vs {sum(m.vehicles for _, m in pairs)}"
            + (
                ""
                if furthest is None
                else f"; furthest behind: {furthest[0].instance} ({furthest[0].vehicles} / "
                f"{furthest[0].distance:.2f} vs {furthest[1].vehicles} / "
                f"{furthest[1].distance:.2f})"
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hinterland bench compare",
        description="Per solver and OR-Tools against each other solver, from bench routing CSVs.",
    )
    parser.add_argument("csv", nargs="+", type=Path, help="CSVs written by bench routing --csv")
    parser.add_argument(
        "--objective",
        choices=("distance", "hierarchical"),
        default="distance",
        help="how two results are ordered: distance, or vehicles first (as the run's objective)",
    )
    args = parser.parse_args(argv)
    try:
        tallies, results = read(args.csv)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"bench compare: {exc}\n")
        return 2
    for line in report(tallies, results, args.objective):
        sys.stdout.write(line + "\n")
    return 0
