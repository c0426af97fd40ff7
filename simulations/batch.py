"""What-if branches and Monte Carlo: many runs of a scenario in parallel worker processes.

A job is one run: a scenario, parameter overrides, a seed and a dispatch policy. Workers are
separate processes (each with its own embedded bus, database and solver process), so runs
never share state; each keeps its imports and geography between jobs. The report gives, per
variant, the distribution (p10, median, p90) of every headline KPI over its seeds.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Job:
    variant: str
    scenario: str
    seed: int
    overrides: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return f"{self.variant}-seed{self.seed}"


@dataclass(frozen=True, slots=True)
class JobResult:
    job: Job
    kpis: dict[str, float | None]
    plan_hashes: list[str]
    wall_time_s: float
    error: str | None = None


def run_job(job: Job, out_root: Path) -> JobResult:
    """Worker entry point: one run, its KPIs (a failure is reported, not raised)."""
    from services.dispatch.app.planner import shutdown_solver_pool
    from simulations.exercise import run_exercise
    from simulations.replay import kpi_values
    from simulations.scenario import load_scenario

    try:
        scenario = load_scenario(job.scenario, overrides=dict(job.overrides), seed=job.seed)
        result = asyncio.run(
            run_exercise(
                job.scenario, out_root, job.run_id, policy=dict(job.policy), scenario=scenario
            )
        )
    except Exception as exc:  # one bad variant must not take the batch down
        return JobResult(job, {}, [], 0.0, f"{type(exc).__name__}: {exc}")
    finally:
        # A solver process left behind would keep the worker from exiting at shutdown.
        shutdown_solver_pool()
    kpis = kpi_values(result.run_dir / "events.jsonl")
    hashes = [p["plan_hash"] for p in result.report["plans"]]
    return JobResult(job, kpis, hashes, float(result.report["wall_time_s"]))


def run_batch(
    jobs: Sequence[Job],
    out_root: Path,
    workers: int,
    progress: Callable[[int, int, JobResult], None] = lambda *_: None,
) -> list[JobResult]:
    """Run every job in ``workers`` processes; results in job order."""
    results: dict[int, JobResult] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_job, job, out_root): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            progress(done, len(jobs), results[futures[future]])
    return [results[i] for i in range(len(jobs))]


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (the same as numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def distribution(results: Sequence[JobResult]) -> dict[str, dict[str, dict[str, float | int]]]:
    """Per variant and KPI: runs, p10, median, p90 (over the runs that produced the KPI)."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        for name, value in r.kpis.items():
            if value is not None:
                values[r.job.variant][name].append(value)
        values[r.job.variant]["wall time s"].append(r.wall_time_s)
    return {
        variant: {
            name: {
                "runs": len(vs),
                "p10": round(_quantile(vs, 0.1), 4),
                "median": round(statistics.median(vs), 4),
                "p90": round(_quantile(vs, 0.9), 4),
            }
            for name, vs in kpis.items()
        }
        for variant, kpis in values.items()
    }


def write_batch_report(out_dir: Path, results: Sequence[JobResult], wall_s: float) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "wall_time_s": round(wall_s, 1),
        "runs": len(results),
        "failed": [
            {"variant": r.job.variant, "seed": r.job.seed, "error": r.error}
            for r in results
            if r.error
        ],
        "distribution": distribution([r for r in results if not r.error]),
        "jobs": [
            {**asdict(r.job), "kpis": r.kpis, "wall_time_s": r.wall_time_s, "error": r.error}
            for r in results
        ],
    }
    path = out_dir / "batch.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str))
    return path


def parse_variant(text: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``name:key=value,policy.solution_limit=100`` -> (name, overrides, policy)."""
    name, _, assignments = text.partition(":")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"variant {text!r}: start with a name (letters, digits, - and _)")
    overrides: dict[str, Any] = {}
    policy: dict[str, Any] = {}
    for item in filter(None, (a.strip() for a in assignments.split(","))):
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ValueError(f"variant {name}: expected key=value, got {item!r}")
        value: Any = parse_value(raw)
        if key.startswith("policy."):
            policy[key.removeprefix("policy.")] = value
        else:
            overrides[key] = value
    return name, overrides, policy


def parse_value(raw: str) -> Any:
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.lower(), raw)
