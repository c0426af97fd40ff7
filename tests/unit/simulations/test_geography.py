"""The generated network: real places, connected roads, stable ids."""

from __future__ import annotations

from collections import defaultdict

import pytest

from simulations.geography import (
    ALL_CLUSTERS,
    BAOXING_NODE_ID,
    BRIDGE_LINK_ID,
    CLUSTERS,
    EXTRA_CLUSTERS,
    NATIONAL_MERGE_KM,
    YAAN_NODE_ID,
    YANGTZE_BRIDGES,
    Network,
    build_network,
    great_circle_km,
)


def _road_components(network: Network, closed: frozenset[str] = frozenset()) -> list[set[str]]:
    adjacent: dict[str, set[str]] = defaultdict(set)
    for link in network.links:
        if link.mode == "road" and link.link_id not in closed:
            adjacent[link.a].add(link.b)
            adjacent[link.b].add(link.a)
    unseen = {n.node_id for n in network.nodes}
    components = []
    while unseen:
        stack = [unseen.pop()]
        component = set(stack)
        while stack:
            for other in adjacent[stack.pop()] - component:
                component.add(other)
                stack.append(other)
        unseen -= component
        components.append(component)
    return components


def test_the_full_network_is_connected_by_road() -> None:
    assert len(_road_components(build_network())) == 1


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_each_cluster_alone_is_connected_by_road(cluster: str) -> None:
    assert len(_road_components(build_network([cluster]))) == 1


def test_building_twice_gives_identical_sorted_output() -> None:
    first, second = build_network(), build_network(list(reversed(CLUSTERS)))
    assert [n.model_dump() for n in first.nodes] == [n.model_dump() for n in second.nodes]
    assert [lk.model_dump() for lk in first.links] == [lk.model_dump() for lk in second.links]
    assert [n.node_id for n in first.nodes] == sorted(n.node_id for n in first.nodes)
    assert [lk.link_id for lk in first.links] == sorted(lk.link_id for lk in first.links)


def test_nodes_are_real_places_with_provinces() -> None:
    network = build_network()
    chengdu = network.node("N-chengdu")
    assert (chengdu.name, chengdu.kind, chengdu.region) == ("Chengdu", "hub", "Sichuan")
    assert network.node(YAAN_NODE_ID).name == "Ya'an"
    assert network.node(BAOXING_NODE_ID).kind == "county"
    assert all(n.region for n in network.nodes)


def test_every_link_joins_known_nodes_and_has_a_plausible_length() -> None:
    network = build_network()
    for link in network.links:
        a, b = network.node(link.a), network.node(link.b)
        direct = great_circle_km(a.lat, a.lon, b.lat, b.lon)
        assert link.a < link.b
        assert direct - 0.1 <= link.length_km <= direct * 1.4 + 0.1


def test_all_four_modes_exist_on_their_corridors() -> None:
    ids = build_network().link_ids
    assert BRIDGE_LINK_ID in ids
    assert {
        "L-rail-chengdu-ziyang",
        "L-rail-qionglai-yaan",
        "L-rail-hanzhong-xian",
        "L-rail-baoji-tianshui",
        "L-rail-wuhan-xinyang",
        "L-water-wanzhou-yichang",
        "L-air-chengdu-lanzhou",
    } <= ids


def test_the_bridge_link_is_a_high_capacity_chengdu_chongqing_road() -> None:
    bridge = next(lk for lk in build_network().links if lk.link_id == BRIDGE_LINK_ID)
    assert (bridge.a, bridge.b, bridge.mode) == ("N-chengdu", "N-chongqing", "road")
    assert "bridge" in bridge.name
    assert bridge.capacity_t_per_day >= 20_000


def test_cutting_the_bridge_leaves_chengdu_and_chongqing_connected_by_road() -> None:
    assert len(_road_components(build_network(), frozenset({BRIDGE_LINK_ID}))) == 1


def test_a_cluster_subset_has_only_links_between_its_own_nodes() -> None:
    network = build_network(["chengdu_chongqing"])
    assert "N-xian" not in network.node_ids
    assert all(lk.a in network.node_ids and lk.b in network.node_ids for lk in network.links)


def test_an_unknown_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown cluster"):
        build_network(["atlantis"])


def test_restricting_to_nodes_keeps_the_links_between_them_with_the_same_ids() -> None:
    small = build_network().restricted_to(["N-chengdu", "N-yaan", "N-qionglai"])
    assert {lk.link_id for lk in small.links} == {
        "L-road-chengdu-yaan",
        "L-road-chengdu-qionglai",
        "L-road-qionglai-yaan",
        "L-rail-chengdu-qionglai",
        "L-rail-qionglai-yaan",
    }


# --- the extra clusters of issue 4 -------------------------------------------------------------


def test_extra_clusters_only_add_to_the_base_network() -> None:
    base = build_network()
    everything = build_network(ALL_CLUSTERS)
    assert set(base.nodes) <= set(everything.nodes)
    assert set(base.links) <= set(everything.links)
    for selection in (["wuhan_changsha", "yangtze_bridges"], ["lanzhou_corridor", "national"]):
        without = build_network(selection[:1])
        with_extra = build_network(selection)
        assert set(without.links) <= set(with_extra.links)
        assert len(with_extra.nodes) > len(without.nodes)


@pytest.mark.parametrize("cluster", EXTRA_CLUSTERS)
def test_each_extra_cluster_alone_is_connected_by_road(cluster: str) -> None:
    assert len(_road_components(build_network([cluster]))) == 1


def test_the_yangtze_bridges_exist_and_carry_their_bridge_names() -> None:
    network = build_network(["chengdu_chongqing", "wuhan_changsha", "yangtze_bridges"])
    assert set(YANGTZE_BRIDGES) <= network.link_ids
    named = {lk.link_id: lk.name for lk in network.links}
    assert "Jingzhou Yangtze River Bridge" in named["L-road-buhe-jingzhou"]
    assert named["L-road-jingzhou-yueyang"] == ""  # a base link: its payload is unchanged
    buhe = network.node("N-buhe")
    assert (buhe.region, buhe.kind) == ("Hubei", "county")
    assert buhe.lat < network.node("N-jingzhou").lat  # the south bank


def test_with_the_bridges_shut_the_south_bank_is_reached_only_round_by_yueyang() -> None:
    network = build_network(["chengdu_chongqing", "wuhan_changsha", "yangtze_bridges"])
    shut = frozenset(YANGTZE_BRIDGES)

    def together(closed: frozenset[str], skip: str | None = None) -> bool:
        kept = Network(
            nodes=tuple(n for n in network.nodes if n.node_id != skip),
            links=tuple(lk for lk in network.links if skip not in (lk.a, lk.b)),
        )
        return any(
            {"N-jingzhou", "N-buhe"} <= component for component in _road_components(kept, closed)
        )

    assert together(frozenset())
    assert together(shut)
    assert together(frozenset(), skip="N-yueyang")
    assert not together(shut, skip="N-yueyang")


def test_the_national_cluster_adds_one_node_per_large_city_across_china() -> None:
    base = build_network([*CLUSTERS, "yangtze_bridges"])
    national = build_network(ALL_CLUSTERS)
    added = [n for n in national.nodes if n.node_id not in base.node_ids]
    assert 100 <= len(added) <= 200
    assert {"N-beijing", "N-shanghai", "N-guangzhou", "N-urumqi"} <= national.node_ids
    assert len({n.region for n in national.nodes}) >= 28
    assert all(n.region for n in national.nodes)
    for i, a in enumerate(added):
        for b in added[i + 1 :]:
            assert great_circle_km(a.lat, a.lon, b.lat, b.lon) >= NATIONAL_MERGE_KM
    assert len(_road_components(national)) == 1
