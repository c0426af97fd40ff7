"""The disruption rule: which links close or degrade, which nodes are lost."""

from collections.abc import Sequence

import pytest

from services.transport.domain.model import (
    Disruption,
    LinkChange,
    LinkState,
    LinkStateRow,
    NodeState,
    apply_disruption,
    area_factor,
    haversine_km,
    in_polygon,
)

# Four towns on a line of latitude, roughly 48 km apart; "far" is ~200 km east of "a".
NODES = {
    "a": NodeState("a", 30.0, 103.0, "open"),
    "b": NodeState("b", 30.0, 103.5, "open"),
    "c": NodeState("c", 30.0, 104.0, "open"),
    "far": NodeState("far", 30.0, 105.1, "open"),
}


def link(
    link_id: str,
    a: str,
    b: str,
    mode: str = "road",
    status: LinkState = "open",
    factor: float = 1.0,
) -> LinkStateRow:
    return LinkStateRow(link_id, a, b, mode, status, factor)


LINKS = (
    link("ab", "a", "b"),
    link("bc", "b", "c"),
    link("c-far", "c", "far"),
    link("rail-ab", "a", "b", mode="rail"),
)


def disruption(
    links: Sequence[str] = (),
    nodes: Sequence[str] = (),
    severity: int = 3,
    circle: tuple[float, float, float] | None = None,
    polygon: Sequence[tuple[float, float]] | None = None,
    degrade_factor: float | None = None,
) -> Disruption:
    return Disruption(
        "DIS-1", "earthquake", severity, links, nodes, circle, polygon, degrade_factor
    )


def by_id(changes: Sequence[LinkChange]) -> dict[str, LinkChange]:
    return {c.link_id: c for c in changes}


def test_listed_links_are_closed_and_nothing_else_changes() -> None:
    changes, lost = apply_disruption(disruption(links=["bc"]), NODES, LINKS)
    assert changes == [LinkChange("bc", "closed", 1.0)]
    assert lost == []


def test_with_a_degrade_factor_listed_links_are_degraded_instead_of_closed() -> None:
    changes, _ = apply_disruption(disruption(links=["ab", "bc"], degrade_factor=0.4), NODES, LINKS)
    assert changes == [LinkChange("ab", "degraded", 0.4), LinkChange("bc", "degraded", 0.4)]


def test_a_degrade_factor_keeps_the_worse_factor_of_an_already_degraded_link() -> None:
    links = (link("ab", "a", "b", status="degraded", factor=0.3),)
    changes, _ = apply_disruption(disruption(links=["ab"], degrade_factor=0.5), NODES, links)
    assert changes == []


def test_lost_nodes_close_all_their_links_of_every_mode() -> None:
    changes, lost = apply_disruption(disruption(nodes=["b"]), NODES, LINKS)
    assert lost == ["b"]
    assert by_id(changes) == {
        "ab": LinkChange("ab", "closed", 1.0),
        "bc": LinkChange("bc", "closed", 1.0),
        "rail-ab": LinkChange("rail-ab", "closed", 1.0),
    }


def test_a_node_already_lost_or_unknown_is_not_reported_lost_again() -> None:
    nodes = {**NODES, "b": NodeState("b", 30.0, 103.5, "lost")}
    _, lost = apply_disruption(disruption(nodes=["b", "nowhere"]), nodes, LINKS)
    assert lost == []


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_road_links_with_an_end_in_the_circle_degrade_by_severity(severity: int) -> None:
    circle = (30.0, 103.0, 10.0)  # around "a" only
    changes, lost = apply_disruption(disruption(severity=severity, circle=circle), NODES, LINKS)
    assert changes == [LinkChange("ab", "degraded", area_factor(severity))]
    assert lost == []


def test_the_area_factor_falls_with_severity_and_never_below_a_quarter() -> None:
    factors = [area_factor(s) for s in range(1, 6)]
    assert factors == sorted(factors, reverse=True)
    assert factors[0] == pytest.approx(0.85)
    assert factors[-1] == pytest.approx(0.25)


def test_rail_links_in_the_area_are_untouched() -> None:
    circle = (30.0, 103.25, 60.0)  # covers "a" and "b"
    changes, _ = apply_disruption(disruption(circle=circle), NODES, LINKS)
    ids = set(by_id(changes))
    assert "rail-ab" not in ids
    assert {"ab", "bc"} <= ids
    assert "c-far" not in ids


def test_a_closed_link_is_never_reopened_or_degraded_by_a_later_disruption() -> None:
    links = (link("ab", "a", "b", status="closed"), link("bc", "b", "c"))
    area = disruption(circle=(30.0, 103.25, 60.0))
    listed = disruption(links=["ab"], degrade_factor=0.5)
    for d in (area, listed):
        changes, _ = apply_disruption(d, NODES, links)
        assert "ab" not in by_id(changes)


def test_a_milder_area_disruption_does_not_improve_a_degraded_road() -> None:
    links = (link("ab", "a", "b", status="degraded", factor=0.25),)
    changes, _ = apply_disruption(disruption(severity=1, circle=(30.0, 103.0, 10.0)), NODES, links)
    assert changes == []


def test_a_worse_area_disruption_degrades_a_degraded_road_further() -> None:
    links = (link("ab", "a", "b", status="degraded", factor=0.85),)
    changes, _ = apply_disruption(disruption(severity=5, circle=(30.0, 103.0, 10.0)), NODES, links)
    assert changes == [LinkChange("ab", "degraded", 0.25)]


def test_road_links_with_an_end_in_a_polygon_degrade() -> None:
    ring = [(29.9, 103.9), (29.9, 104.1), (30.1, 104.1), (30.1, 103.9), (29.9, 103.9)]  # "c"
    changes, _ = apply_disruption(disruption(polygon=ring, severity=4), NODES, LINKS)
    assert set(by_id(changes)) == {"bc", "c-far"}
    assert all(c.factor == pytest.approx(area_factor(4)) for c in changes)


SQUARE = [(0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0), (0.0, 0.0)]
CONCAVE = [(0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 6.0), (4.0, 6.0), (4.0, 4.0),
           (10.0, 4.0), (10.0, 0.0), (0.0, 0.0)]  # fmt: skip


@pytest.mark.parametrize(
    ("ring", "point", "inside"),
    [
        (SQUARE, (5.0, 5.0), True),
        (SQUARE, (11.0, 5.0), False),
        (SQUARE, (5.0, -0.1), False),
        (SQUARE, (-5.0, -5.0), False),
        (CONCAVE, (2.0, 5.0), True),
        (CONCAVE, (7.0, 5.0), False),  # in the notch
        (CONCAVE, (7.0, 8.0), True),
    ],
)
def test_polygon_containment_follows_the_ring(
    ring: list[tuple[float, float]], point: tuple[float, float], inside: bool
) -> None:
    assert in_polygon(point[0], point[1], ring) is inside


def test_haversine_gives_about_111_km_per_degree_of_latitude() -> None:
    assert haversine_km(30.0, 103.0, 31.0, 103.0) == pytest.approx(111.19, abs=0.1)
    assert haversine_km(30.0, 103.0, 30.0, 103.0) == 0.0
