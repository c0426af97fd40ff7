"""What-if branches and Monte Carlo: variants parsed, runs in worker processes, distributions."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.batch import Job, JobResult, distribution, parse_variant, run_batch


def test_a_variant_names_parameters_and_policy() -> None:
    name, overrides, policy = parse_variant(
        "early-repair:bridge_repair_h=12,label=G5,policy.solution_limit=100,strict=true"
    )
    assert name == "early-repair"
    assert overrides == {"bridge_repair_h": 12, "label": "G5", "strict": True}
    assert policy == {"solution_limit": 100}


@pytest.mark.parametrize("bad", ["", ":x=1", "v:x", "v:=1", "two words:x=1"])
def test_a_malformed_variant_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="variant"):
        parse_variant(bad)


def result(variant: str, seed: int, fill: float | None) -> JobResult:
    return JobResult(Job(variant, "smoke", seed), {"fill": fill}, [], float(seed))


def test_the_distribution_gives_p10_median_p90_per_variant_over_runs_with_the_kpi() -> None:
    runs = [result("a", s, s / 10) for s in range(1, 11)] + [result("b", 1, None)]
    dist = distribution(runs)
    assert dist["a"]["fill"] == {"runs": 10, "p10": 0.19, "median": 0.55, "p90": 0.91}
    assert "fill" not in dist["b"]  # no run of b produced it
    assert dist["b"]["wall time s"]["runs"] == 1


@pytest.mark.sim
@pytest.mark.timeout(600)
def test_variants_run_in_parallel_workers_and_a_failing_one_is_reported_not_raised(
    tmp_path: Path,
) -> None:
    jobs = [
        Job("baseline", "smoke", 1),
        Job("tiny-search", "smoke", 1, policy={"solution_limit": 1, "first_solution": "SAVINGS"}),
        Job("broken", "smoke", 1, overrides={"no_such_parameter": 3}),
    ]
    seen: list[int] = []
    results = run_batch(jobs, tmp_path, workers=2, progress=lambda done, _n, _r: seen.append(done))
    assert sorted(seen) == [1, 2, 3]
    baseline, tiny, broken = results
    assert baseline.error is None, baseline.error
    assert tiny.error is None, tiny.error
    assert baseline.plan_hashes
    assert tiny.plan_hashes
    assert baseline.kpis["fill"] is not None
    assert "no_such_parameter" in (broken.error or "")
    assert (tmp_path / "baseline-seed1" / "events.jsonl").exists()
