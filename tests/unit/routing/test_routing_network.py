"""FastNetwork finds Network's paths, whether trees are complete, partial or read backwards."""

import pytest

from services.dispatch.routing.network import FastNetwork, Network
from services.dispatch.routing.problem import MODES
from tests.unit.routing.samples import random_problem
from tests.unit.routing.test_routing_performance import region


@pytest.mark.parametrize("seed", [7, 8])
def test_fast_paths_equal_network_paths_for_every_pair_and_mode(seed: int) -> None:
    problem = region(seed)
    slow, fast = Network(problem), FastNetwork(problem)
    ids = sorted(n.id for n in problem.nodes)
    fast.prepare("road", ids[:10], ids[20:40])  # partial trees must not change any answer
    for mode in MODES:
        for a in ids:
            for b in ids:
                expected = slow.path(mode, a, b)
                assert fast.path(mode, a, b) == expected
                leg = fast.leg(mode, a, b)
                assert (leg is None) == (expected is None)
                if leg is not None and expected is not None:
                    assert (leg.length_m, leg.effective_m) == (
                        expected.length_m,
                        expected.effective_m,
                    )
                    assert leg.links == ()


def test_closed_links_and_lost_nodes_cut_paths() -> None:
    for seed in range(6):
        problem = random_problem(seed)
        slow, fast = Network(problem), FastNetwork(problem)
        for a in problem.nodes:
            for b in problem.nodes:
                assert fast.path("road", a.id, b.id) == slow.path("road", a.id, b.id)
                assert fast.is_usable(a.id) == slow.is_usable(a.id)


def test_nearest_is_the_distance_to_the_closest_source() -> None:
    problem = region(7)
    fast = FastNetwork(problem)
    sources = ["n00", "n10", "n20"]
    nearest = fast.nearest("road", sources)
    for node in fast.node_ids:
        legs = [fast.leg("road", s, node) for s in sources]
        best = min((leg.effective_m for leg in legs if leg is not None), default=float("inf"))
        assert nearest[fast.number(node)] == pytest.approx(best)
