"""Area geometry: inside, crossing, nearest node, enclosing circle."""

from __future__ import annotations

from services.standards.network import (
    CircleArea,
    Network,
    Node,
    PolygonArea,
    affected,
    contains,
    crosses,
    enclosing_circle,
    haversine_km,
    nearest_node,
)

SQUARE = PolygonArea(((1.0, 1.0), (1.0, 2.0), (2.0, 2.0), (2.0, 1.0), (1.0, 1.0)))


def test_points_inside_and_outside_a_polygon() -> None:
    assert contains(SQUARE, 1.5, 1.5)
    assert not contains(SQUARE, 2.5, 1.5)
    assert not contains(SQUARE, 1.5, 0.5)


def test_a_segment_crossing_a_polygon_with_both_ends_outside_touches_it() -> None:
    assert crosses(SQUARE, Node("a", 1.5, 0.0), Node("b", 1.5, 3.0))
    assert not crosses(SQUARE, Node("a", 0.0, 0.0), Node("b", 0.5, 3.0))


def test_a_segment_passing_a_circle_closer_than_its_radius_touches_it() -> None:
    circle = CircleArea(30.0, 103.0, 10.0)
    # about 5.5 km north of the centre, both ends 50 km away
    assert crosses(circle, Node("a", 30.05, 102.5), Node("b", 30.05, 103.5))
    # about 22 km north: misses
    assert not crosses(circle, Node("a", 30.2, 102.5), Node("b", 30.2, 103.5))


def test_affected_lists_sorted_ids_and_depots_at_nodes_inside() -> None:
    net = Network.from_plain(
        nodes=[
            {"node_id": "in", "lat": 1.5, "lon": 1.5},
            {"node_id": "out", "lat": 5, "lon": 5},
            {"node_id": "w", "lat": 1.5, "lon": 0},
            {"node_id": "e", "lat": 1.5, "lon": 3},
        ],
        links=[
            {"link_id": "L2", "a": "in", "b": "out"},
            {"link_id": "L1", "a": "w", "b": "e", "mode": "rail"},
            {"link_id": "L3", "a": "w", "b": "e", "mode": "air"},
            {"link_id": "L4", "a": "out", "b": "e"},
            {"link_id": "L5", "a": "ghost", "b": "in"},
        ],
        depots=[{"depot_id": "D", "node_id": "in"}, {"depot_id": "X", "node_id": "out"}],
    )
    hit = affected(net, [SQUARE])
    assert hit.nodes == ("in",)
    assert hit.links == ("L1", "L2")
    assert hit.depots == ("D",)


def test_nearest_node_and_its_distance() -> None:
    net = Network.from_plain(
        [{"node_id": "a", "lat": 30.0, "lon": 103.0}, {"node_id": "b", "lat": 31.0, "lon": 104.0}]
    )
    found = nearest_node(net, 30.1, 103.0)
    assert found is not None
    node, km = found
    assert node.node_id == "a"
    assert 10 < km < 12
    assert nearest_node(Network(), 0, 0) is None


def test_the_enclosing_circle_reaches_every_point() -> None:
    points = [(30.0, 103.0), (30.66, 104.07), (29.56, 106.55)]
    c = enclosing_circle(points)
    assert all(haversine_km(c.lat, c.lon, lat, lon) <= c.radius_km for lat, lon in points)
