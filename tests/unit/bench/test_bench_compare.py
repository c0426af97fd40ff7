"""`bench compare` on CSVs written by the runner's own writer."""

from pathlib import Path

import pytest

from services.bench.checker import Check
from services.bench.compare import main
from services.bench.instances import Bks
from services.bench.runner import Row, write_csv

HIER = {name: Bks(name, 10, 1000.0, "hierarchical", "real") for name in ("a", "b", "c", "d")}


def _row(instance: str, solver: str, vehicles: int, distance: float, ok: bool = True) -> Row:
    check = Check(vehicles, distance, distance, () if ok else ("capacity exceeded",))
    return Row(instance, solver, 100, check, None, HIER[instance], 30.0)


def _csv(path: Path, rows: list[Row]) -> Path:
    write_csv(rows, path)
    return path


def test_ortools_against_each_solver_instance_by_instance(tmp_path, capsys):
    # Split over two files, as a set run one half per core is.
    first = _csv(
        tmp_path / "a.csv",
        [
            _row("a", "ortools", 10, 1010.0),  # behind pyvrp on distance, ahead of vroom
            _row("a", "pyvrp", 10, 1000.0),
            _row("a", "vroom", 10, 1020.0),
            _row("b", "ortools", 11, 990.0),  # one vehicle more: behind on both
            _row("b", "pyvrp", 10, 1005.0),
            _row("b", "vroom", 10, 1030.0),
        ],
    )
    second = _csv(
        tmp_path / "b.csv",
        [
            _row("c", "ortools", 10, 1000.0),  # level with pyvrp, ahead of vroom
            _row("c", "pyvrp", 10, 1000.0),
            _row("c", "vroom", 10, 1000.0, ok=False),  # infeasible: not compared
            _row("d", "ortools", 10, 1000.0),
        ],
    )

    assert main([str(first), str(second), "--objective", "hierarchical"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "ortools: feasible 4/4; at or below the best-known vehicle count 3; mean gap_h +0.00%"
    )
    assert lines[1].startswith("pyvrp: feasible 3/3; at or below the best-known vehicle count 3")
    assert lines[2].startswith("vroom: feasible 2/3;")
    assert lines[3].startswith(
        "ortools vs pyvrp, 3 instances both solved (hierarchical): mean gap_h +0.00% vs +0.17%"
    )
    assert "ortools ahead on 0, level on 1, behind on 2; vehicles 31 vs 30" in lines[3]
    assert lines[3].endswith("furthest behind: b (11 / 990.00 vs 10 / 1005.00)")  # a fleet
    assert "ortools ahead on 1, level on 0, behind on 1; vehicles 21 vs 20" in lines[4]


def test_by_distance_alone_the_fleet_size_does_not_decide(tmp_path, capsys):
    path = _csv(
        tmp_path / "a.csv", [_row("b", "ortools", 11, 990.0), _row("b", "pyvrp", 10, 1005.0)]
    )

    assert main([str(path)]) == 0

    out = capsys.readouterr().out
    assert "ortools ahead on 1, level on 0, behind on 0" in out
    assert "furthest behind" not in out


def test_a_result_counted_twice_is_refused(tmp_path, capsys):
    rows = [_row("a", "ortools", 10, 1010.0)]
    first, second = _csv(tmp_path / "a.csv", rows), _csv(tmp_path / "b.csv", rows)

    assert main([str(first), str(second)]) == 2

    assert "a by ortools appears twice" in capsys.readouterr().err


def test_a_file_that_is_not_a_runner_csv_is_refused(tmp_path, capsys):
    path = tmp_path / "other.csv"
    path.write_text("instance,solver\na,ortools\n")

    assert main([str(path)]) == 2

    err = capsys.readouterr().err
    assert "is not a bench routing CSV" in err
    assert "distance" in err


@pytest.mark.parametrize("objective", ["distance", "hierarchical"])
def test_no_instance_in_common(tmp_path, capsys, objective):
    path = _csv(
        tmp_path / "a.csv", [_row("a", "ortools", 10, 1000.0), _row("b", "vroom", 10, 1000.0)]
    )

    assert main([str(path), "--objective", objective]) == 0

    assert "ortools vs vroom: no instance both solved" in capsys.readouterr().out
