"""The PyVRP and VROOM adapters on hand-made instances (`make venv` installs the bench extra)."""

import csv
from pathlib import Path

import pytest

from services.bench.checker import check
from services.bench.convert import vehicle_fixed_cost
from services.bench.instances import Instance, read_lilim
from services.bench.others import (
    pyvrp_routes,
    solve_pyvrp,
    solve_vroom,
    to_pyvrp,
    to_vroom,
)
from services.bench.runner import main
from tests.unit.bench.samples import UNREACHABLE
from tests.unit.bench.test_bench_solve import FIVE, brute_force_optimum

# Two pairs picked up at (0, 10) and delivered at (0, 20), 4 units each, capacity 5: carrying
# both at once (distance 40) overloads, so one vehicle must go back and forth (60) or two
# vehicles go (80). A solver that lost the shipment amounts would return the 40.
PAIRS_BIND = Instance(
    name="pairs-bind",
    path=Path("pairs-bind.txt"),
    coords=((0, 0), (0, 10), (0, 20), (0, 10), (0, 20)),
    demands=(0, 4, -4, 4, -4),
    windows=((0, 500),) * 5,
    service=(0, 0, 0, 0, 0),
    fleet_size=2,
    capacity=5,
    pairs=((1, 2), (3, 4)),
)


@pytest.fixture
def pyvrp():
    module = pytest.importorskip("pyvrp")
    if not hasattr(module.Model, "add_shipment"):
        pytest.skip("pyvrp older than 0.14 (no locations, no shipments)")
    return module


@pytest.fixture
def vroom():
    return pytest.importorskip("vroom")


def test_the_pyvrp_model_carries_the_same_integers_as_the_ortools_problem(pyvrp):
    data = to_pyvrp(FIVE).data()

    assert (data.num_depots, data.num_clients, data.num_shipments) == (1, 5, 0)
    assert data.num_vehicles == 2
    (vehicle_type,) = data.vehicle_types()
    assert vehicle_type.capacity == [4]
    assert vehicle_type.fixed_cost == 0
    assert (vehicle_type.tw_early, vehicle_type.tw_late) == (0, 6000)
    # As in to_problem: cost rounded (632), time rounded up (633), windows inwards.
    assert data.distance_matrix(0)[0, 1] == 632
    assert data.duration_matrix(0)[0, 1] == 633
    third = data.clients()[2]
    assert (third.location, third.delivery, third.service_duration) == (3, [1], 100)
    assert (third.tw_early, third.tw_late) == (0, 1400)


def test_the_hierarchical_objective_is_a_pyvrp_vehicle_fixed_cost(pyvrp):
    data = to_pyvrp(FIVE, objective="hierarchical").data()

    assert data.vehicle_types()[0].fixed_cost == vehicle_fixed_cost(FIVE, 100)


def test_li_lim_pairs_become_pyvrp_shipments_with_the_pickup_amount(pyvrp, lilim_file):
    instance = read_lilim(lilim_file)

    data = to_pyvrp(instance).data()

    assert (data.num_clients, data.num_shipments) == (0, 2)
    pairs = [(s.pickup.location, s.delivery.location, s.amount) for s in data.shipments()]
    assert pairs == [(1, 2, [4]), (4, 3, [5])]
    assert data.shipments()[0].pickup.service_duration == 200


def test_pyvrp_activities_map_back_to_the_instance_nodes(pyvrp, lilim_file):
    data = to_pyvrp(read_lilim(lilim_file)).data()
    pickup, delivery = pyvrp.ActivityType.PICKUP, pyvrp.ActivityType.DELIVERY
    activities = [
        pyvrp.Activity(pickup, 1),
        pyvrp.Activity(pickup, 0),
        pyvrp.Activity(delivery, 0),
        pyvrp.Activity(delivery, 1),
    ]
    solution = pyvrp.Solution(data, [pyvrp.Route(data, activities, 0)])

    assert pyvrp_routes(data, solution) == ((4, 1, 2, 3),)


def test_pyvrp_solves_the_five_customer_instance_to_its_optimum(pyvrp):
    solved = solve_pyvrp(FIVE, budget_s=0.5, seed=1)

    assert solved.status == "solved"
    result = check(FIVE, solved.routes)
    assert result.feasible, result.violations
    assert result.distance == pytest.approx(brute_force_optimum(FIVE), abs=0.05)


def test_pyvrp_keeps_every_pair_on_one_route_in_order(pyvrp, lilim_file):
    instance = read_lilim(lilim_file)

    solved = solve_pyvrp(instance, budget_s=0.3)

    assert solved.status == "solved"
    assert check(instance, solved.routes).feasible


def test_the_vroom_input_has_the_fleet_the_jobs_and_the_vehicle_fixed_cost(vroom):
    distance = to_vroom(FIVE).solve(exploration_level=5, nb_threads=1).to_dict()
    model = to_vroom(FIVE, objective="hierarchical")
    hierarchical = model.solve(exploration_level=5, nb_threads=1).to_dict()

    assert (len(model.vehicles), len(model.jobs)) == (2, 5)
    # The costs matrix is the scaled distance: the optimum 40.98 costs 4098.
    assert distance["summary"]["cost"] == 4098
    routes = hierarchical["summary"]["routes"]
    assert hierarchical["summary"]["cost"] == 4098 + routes * vehicle_fixed_cost(FIVE, 100)


def test_vroom_solves_the_five_customer_instance_feasibly(vroom):
    solved = solve_vroom(FIVE)

    assert solved.status == "solved"
    result = check(FIVE, solved.routes)
    assert result.feasible, result.violations
    assert result.distance >= brute_force_optimum(FIVE) - 1e-9


def test_vroom_keeps_every_pair_on_one_route_in_order(vroom, lilim_file):
    instance = read_lilim(lilim_file)

    solved = solve_vroom(instance)

    assert solved.status == "solved"
    assert check(instance, solved.routes).feasible


@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_shipment_amounts_bind_the_capacity(solver, pyvrp, vroom):
    solved = solve_pyvrp(PAIRS_BIND, 0.5) if solver == "pyvrp" else solve_vroom(PAIRS_BIND)

    result = check(PAIRS_BIND, solved.routes)
    assert result.feasible, result.violations
    assert result.distance == pytest.approx(60)


# PyVRP warns that it found no feasible solution, which is the point here.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_an_instance_the_solver_cannot_serve_whole_is_no_solution(solver, pyvrp, vroom):
    solved = solve_pyvrp(UNREACHABLE, 0.3) if solver == "pyvrp" else solve_vroom(UNREACHABLE)

    assert solved.status == "no solution"
    assert solved.routes == ()
    assert solved.note


def test_the_runner_reports_one_row_per_instance_and_solver(
    pyvrp, vroom, vrplib_file, lilim_file, tmp_path, capsys
):
    out = tmp_path / "rows.csv"
    args = [str(vrplib_file), str(lilim_file), "--budget", "0.3", "--csv", str(out)]

    code = main([*args, "--solvers", "vroom,ortools,pyvrp"])

    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["instance"], r["solver"]) for r in rows] == [
        (name, solver) for name in ("TINY", "tiny") for solver in ("vroom", "ortools", "pyvrp")
    ]
    assert {r["feasible"] for r in rows} == {"True"}
    printed = capsys.readouterr().out
    assert "vroom: solved 2/2" in printed
    assert "pyvrp: solved 2/2" in printed
