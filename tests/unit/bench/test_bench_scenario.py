"""Scenario benchmarks: the problems they build, churn, and the command's figures."""

import json
from pathlib import Path

from services.bench.national import national_problem
from services.bench.regional import CUT_LINK, regional_problem
from services.bench.scenario import churn, main, run
from services.dispatch.routing import (
    Allocation,
    LogisticsPlan,
    PlanKpis,
    SolverParams,
)


def test_the_national_problem_is_the_same_for_the_same_scale_and_seed() -> None:
    first = national_problem(0.02)
    assert first == national_problem(0.02)
    assert first != national_problem(0.02, seed=1)
    assert len(first.nodes) == 40
    assert len(first.depots) == 6
    assert len(first.vehicles) == 20
    assert len(first.needs) == 100
    assert {link.mode for link in first.links} >= {"road", "rail", "air"}
    assert any(link.state == "closed" for link in national_problem(0.1).links)


def test_the_regional_problem_cuts_the_g85_bridge_only_when_asked() -> None:
    before, after = regional_problem(cut=False), regional_problem(cut=True)
    state = {link.id: link.state for link in before.links}
    assert state[CUT_LINK] == "open"
    assert {link.id: link.state for link in after.links}[CUT_LINK] == "closed"
    assert state["L-road-baoxing-yaan"] == "closed"  # the earthquake, at 0 h
    assert state["L-road-chengdu-yaan"] == "degraded"
    assert not next(d for d in before.depots if d.id == "D-YA-PROV").usable  # lost at 0.5 h
    assert before.needs == after.needs
    assert len(before.needs) == 17  # raised by +2 h
    assert "A-CIV-LS-04" not in {v.id for v in before.vehicles}  # lost at 1 h


def _plan(*allocations: Allocation) -> LogisticsPlan:
    kpis = PlanKpis({}, {}, 1.0, 1.0, 0, 0, 0)
    return LogisticsPlan((), allocations, (), kpis, True)


def test_churn_counts_the_kilograms_that_changed_hands() -> None:
    before = _plan(Allocation("N1", "D1", "V1", 10_000, 0), Allocation("N2", "D1", "V2", 10_000, 0))
    assert churn(before, before) == 0.0
    moved = _plan(Allocation("N1", "D1", "V1", 10_000, 0), Allocation("N2", "D1", "V3", 10_000, 0))
    assert churn(before, moved) == 0.5
    less = _plan(Allocation("N1", "D1", "V1", 5_000, 0))
    assert churn(before, less) == 0.75
    assert churn(_plan(), _plan()) == 0.0


def test_a_run_reports_first_and_final_plan_times_and_the_bound() -> None:
    figures, plan = run(national_problem(0.02), SolverParams(solution_limit=5))
    assert 0 < figures.first_s <= figures.final_s
    assert figures.plans == 1
    assert figures.peak_rss_mb > 0
    assert 0 <= figures.served_fraction_of_bound <= 1
    assert not figures.decomposed
    assert plan.kpis.weighted_bound_kg is not None


def test_the_command_prints_and_writes_the_national_figures(tmp_path: Path, capsys) -> None:
    out = tmp_path / "figures.json"
    code = main(
        ["--national", "--scale", "0.02", "--budget", "2", "--workers", "1", "--json", str(out)]
    )
    assert code == 0
    figures = json.loads(out.read_text())["national"]
    assert figures["problem"]["needs"] == 100
    assert figures["first_s"] <= figures["final_s"] <= 2 + 2
    assert "served_fraction_of_bound" in capsys.readouterr().out


def test_the_regional_plans_are_the_ones_dispatch_made_before_this_work() -> None:
    # Recorded before the decomposed path and the physical limit were added (50 solutions).
    from services.dispatch.routing import plan_deliveries

    for cut, objective, distance_m in (
        (False, 22_766_271_199, 26_664_400),
        (True, 22_766_285_869, 26_811_100),
    ):
        plan = plan_deliveries(regional_problem(cut=cut), SolverParams(solution_limit=50))
        assert (plan.kpis.objective, plan.kpis.distance_m) == (objective, distance_m)
        assert plan.kpis.vehicles_used == 44


def test_the_national_re_plan_keeps_what_the_lost_depot_does_not_force(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "figures.json"
    argv = ["--national-replan", "--scale", "0.1", "--budget", "10", "--workers", "1"]
    assert main([*argv, "--solution-limit", "5", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["national_replan"]
    scratch, kept = figures["replan_from_scratch"], figures["replan_with_churn_cost"]
    assert figures["before"]["decomposed"]
    assert kept["decomposed"]
    assert 0 < figures["forced"] <= kept["churn"] < scratch["churn"]
    assert kept["churn_first_plan"] < scratch["churn_first_plan"]
    assert kept["served_fraction_of_bound"] >= 0.95 * scratch["served_fraction_of_bound"]
    assert "churn_first_plan" in capsys.readouterr().out
