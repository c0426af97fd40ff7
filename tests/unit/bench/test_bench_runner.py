"""The `bench routing` entry point on a real Solomon instance and on bad input."""

import csv

from services.bench.runner import main


def test_one_solomon_instance_prints_a_checked_row_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "bench.csv"

    code = main(["C101", "--budget", "2", "--solvers", "ortools", "--csv", str(out)])

    printed = capsys.readouterr().out
    assert code == 0
    row_line = next(line for line in printed.splitlines() if line.strip().startswith("C101"))
    assert "yes" in row_line
    assert "mean gap_d" in printed
    (row,) = list(csv.DictReader(out.open()))
    assert row["instance"] == "C101"
    assert row["solver"] == "ortools"
    assert row["status"] == "solved"
    assert row["feasible"] == "True"
    assert row["bks_d_distance"] == "827.3"
    assert float(row["distance"]) >= 828.9


def test_an_unknown_instance_name_exits_with_2_and_says_why(capsys):
    code = main(["NOPE123", "--budget", "1"])

    assert code == 2
    assert "'NOPE123' is neither" in capsys.readouterr().err


def test_an_unknown_first_solution_strategy_exits_with_2(capsys):
    code = main(["C101", "--budget", "1", "--first-solution", "NOT_A_STRATEGY"])

    assert code == 2
    assert "unknown first_solution" in capsys.readouterr().err


def test_workers_reach_the_solver_and_zero_is_refused(capsys):
    assert main(["C101", "--budget", "1", "--solvers", "ortools", "--workers", "1"]) == 0
    assert "workers=1" in capsys.readouterr().out
    assert main(["C101", "--budget", "1", "--solvers", "ortools"]) == 0
    assert "workers=2" in capsys.readouterr().out
    assert main(["C101", "--budget", "1", "--workers", "0"]) == 2
    assert "workers must be > 0" in capsys.readouterr().err
