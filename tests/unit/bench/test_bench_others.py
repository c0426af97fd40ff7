"""PyVRP and VROOM beside OR-Tools: --solvers, rows without a solver, the one scoring path.

Nothing here imports pyvrp or vroom; test_bench_others_solvers.py does, where installed.
"""

import csv

import pytest

from services.bench import others
from services.bench.checker import Check
from services.bench.instances import Bks, read_lilim, read_vrplib
from services.bench.others import Solved, parse_solvers, vroom_routes
from services.bench.runner import Row, main, run_ortools, score, summary
from services.dispatch.routing.params import SolverParams
from tests.unit.bench.samples import UNREACHABLE


def test_solvers_are_parsed_in_the_given_order_case_and_spaces_ignored():
    assert parse_solvers("vroom, PyVRP ,ortools") == ("vroom", "pyvrp", "ortools")
    assert parse_solvers("ortools") == ("ortools",)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ortools,gurobi", "unknown solver 'gurobi'"),
        ("", "unknown solver ''"),
        ("pyvrp,ortools,pyvrp", "'pyvrp' given twice"),
    ],
)
def test_bad_solver_lists_are_refused(text, says):
    with pytest.raises(ValueError, match=says):
        parse_solvers(text)


def test_a_bad_solver_list_exits_with_2_before_solving(vrplib_file, capsys):
    code = main([str(vrplib_file), "--solvers", "ortools,gurobi"])

    captured = capsys.readouterr()
    assert code == 2
    assert "unknown solver 'gurobi'" in captured.err
    assert "TINY" not in captured.out


def test_by_default_ortools_runs_with_whichever_extra_is_importable(monkeypatch):
    monkeypatch.setitem(others.MODULES, "pyvrp", "hinterland_no_such_module")
    monkeypatch.setitem(others.MODULES, "vroom", "vroom")
    monkeypatch.setattr(others, "installed", lambda s: s != "pyvrp")

    assert others.default_solvers() == ("ortools", "vroom")


def test_a_requested_solver_that_is_not_installed_gets_a_row_saying_so(
    vrplib_file, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(others.MODULES, "pyvrp", "hinterland_no_such_module")
    monkeypatch.setitem(others.MODULES, "vroom", "hinterland_no_such_module")
    out = tmp_path / "rows.csv"
    solvers = ["--solvers", "ortools,pyvrp,vroom"]

    code = main([str(vrplib_file), "--budget", "0.5", *solvers, "--csv", str(out)])

    printed = capsys.readouterr().out
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["solver"], r["status"], r["found"]) for r in rows] == [
        ("ortools", "solved", "True"),
        ("pyvrp", "not installed", "False"),
        ("vroom", "not installed", "False"),
    ]
    assert rows[1]["vehicles"] == rows[1]["distance"] == rows[1]["gap_h_pct"] == ""
    pyvrp_line = next(line for line in printed.splitlines() if " pyvrp " in line)
    assert pyvrp_line.split()[-2:] == ["installed", "0.0"]
    assert "pyvrp: solved 0/1" in printed
    assert "ortools: solved 1/1" in printed


def test_a_solver_that_cannot_model_pairs_says_unsupported_not_a_number(lilim_file, monkeypatch):
    instance = read_lilim(lilim_file)
    monkeypatch.setattr(others, "installed", lambda solver: True)
    monkeypatch.setattr(others, "pyvrp_supports", lambda instance: False)

    row = score(instance, "pyvrp", others.solve_pyvrp(instance, 0.1), {})

    assert row.status == "unsupported"
    assert row.result is None
    assert row.gap_h is None


def test_an_ortools_run_that_finds_nothing_is_a_no_solution_row_without_figures():
    solved = run_ortools(UNREACHABLE, SolverParams(time_limit_s=0.3), 100, "distance")

    row = score(UNREACHABLE, "ortools", solved, {})

    assert (row.status, row.result, row.gap_d) == ("no solution", None, None)


def test_every_solver_is_scored_by_the_checker_not_by_its_own_report(vrplib_file):
    instance = read_vrplib(vrplib_file)
    bks = {"distance": Bks("TINY", 1, 10.0, "distance", "dimacs_trunc1")}
    # Customer 3 twice and customer 1 missing: the checker must say so whatever the solver.
    solved = Solved("solved", ((2, 3), (3,)), 0.1)

    row = score(instance, "vroom", solved, bks)

    assert row.result is not None
    assert not row.result.feasible
    assert any("more than once" in v for v in row.result.violations)
    assert any("not visited: [1]" in v for v in row.result.violations)
    assert row.gap_d is not None


def test_vroom_steps_become_customer_sequences_by_location_index():
    solution = {
        "routes": [
            {
                "vehicle": 0,
                "steps": [
                    {"type": "start", "location_index": 0},
                    {"type": "pickup", "id": 4, "location_index": 4},
                    {"type": "job", "id": 1, "location_index": 1},
                    {"type": "delivery", "id": 3, "location_index": 3},
                    {"type": "end", "location_index": 0},
                ],
            },
            {"vehicle": 1, "steps": [{"type": "start", "location_index": 0}]},
        ]
    }

    assert vroom_routes(solution) == ((4, 1, 3),)


def _row(instance: str, solver: str, gap: float | None) -> Row:
    bks = Bks(instance, 1, 100.0, "distance", "dimacs_trunc1")
    result = None
    if gap is not None:
        result = Check(1, 0.0, 100.0 * (1 + gap / 100), ())
    status = "solved" if gap is not None else "no solution"
    return Row(instance, solver, 1, result, bks, None, 1.0, status)


def test_the_summary_compares_solvers_only_on_instances_all_of_them_solved():
    rows = [
        _row("A", "ortools", 2.0),
        _row("A", "pyvrp", 0.0),
        _row("B", "ortools", None),
        _row("B", "pyvrp", 4.0),
    ]

    lines = summary(rows, ["ortools", "pyvrp"])

    assert lines[0] == "ortools: solved 1/2; mean gap_d +2.00% over 1; mean gap_h -"
    assert lines[1] == "pyvrp: solved 2/2; mean gap_d +2.00% over 2; mean gap_h -"
    assert lines[2] == (
        "instances every solver solved (with a distance BKS): 1; "
        "mean gap_d ortools +2.00% over 1, pyvrp +0.00% over 1"
    )
    assert len(summary(rows, ["pyvrp"])) == 1


def test_the_cli_wrapper_still_hands_arguments_to_the_runner(vrplib_file, capsys):
    from typer.testing import CliRunner

    from services.cli import app

    result = CliRunner().invoke(
        app, ["bench", "routing", str(vrplib_file), "--budget", "0.5", "--solvers", "ortools"]
    )

    assert result.exit_code == 0, result.output
    assert "ortools: solved 1/1" in result.output
