"""The HTML report: self-contained (nothing fetched), a map with every node, injects vs outcomes."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from contracts.incidents import NeedRaisedV1
from simulations.aar.html import Expectation, render_html
from simulations.aar.kpis import compute_kpis
from simulations.aar.network import network_view
from simulations.aar.plots import inline_svg, replan_chart
from tests.unit.simulations.test_aar_kpis import base_run, executed_run

EXTERNAL = [
    re.compile(r"https?://", re.I),
    re.compile(r"\bsrc\s*=", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"<script", re.I),
    re.compile(r"<link\b", re.I),
    re.compile(r"url\(\s*(?!['\"]?#)", re.I),  # url(...) other than a same-page #fragment
    re.compile(r"href\s*=\s*(?!['\"]?#)", re.I),  # links and xlink:href other than #fragment
]


@dataclass(frozen=True)
class TheirResult:
    """Shaped like simulations/expectations.py's ExpectationResult, without importing it."""

    id: str
    description: str
    expected: str
    actual: str
    met: bool
    inject: str | None = None


def external_references(page: str) -> list[str]:
    return [m.group(0) for rx in EXTERNAL for m in rx.finditer(page)]


def svg_by_id(page: str, svg_id: str) -> str:
    match = re.search(rf'<svg class="map" id="{svg_id}".*?</svg>', page, re.S)
    assert match, f"no map svg {svg_id}"
    return match.group(0)


@pytest.fixture(scope="module")
def page() -> str:
    events = executed_run().events
    checks = [
        TheirResult("X1", "cut road reported", "B-C closed", "B-C closed", True, inject="DIS-1"),
        TheirResult("X2", "all grain delivered", "20 t", "12 t", False),
    ]
    return render_html(compute_kpis(events), network_view(events), checks)


def test_the_page_references_nothing_outside_itself(page: str) -> None:
    assert external_references(page) == []
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page


def test_the_detector_would_catch_an_external_reference() -> None:
    for bad in [
        '<img src="x.png">',
        '<script src="a.js"></script>',
        "<style>@import 'x.css'</style>",
        '<a href="https://example.org">',
        "<div style=\"background:url('bg.png')\">",
        '<link rel="stylesheet" href="s.css">',
    ]:
        assert external_references(bad), bad
    assert external_references('<use xlink:href="#g1"/><g clip-path="url(#c1)">') == []


def test_the_network_map_draws_one_element_per_node(page: str) -> None:
    full = svg_by_id(page, "map-network")
    nodes = re.findall(r'<g class="node(?: lost)?" data-node="([^"]+)"', full)
    assert sorted(nodes) == ["N-A", "N-B", "N-C"]


def test_the_map_shows_cut_links_depots_needs_by_status_and_driven_links(page: str) -> None:
    full = svg_by_id(page, "map-network")
    assert len(re.findall(r'class="link mode-road state-closed"', full)) == 1  # B-C
    assert len(re.findall(r'<rect class="depot"', full)) == 1
    statuses = re.findall(r'class="need need-(\w+)"', full)
    assert sorted(statuses) == ["partial", "served", "unserved", "unserved"]
    assert len(re.findall(r'class="route"', full)) == 2  # A-B by V1, A-C by V2


def test_every_inject_is_a_row_with_expected_and_actual_outcome(page: str) -> None:
    table = page[page.index("Injects: expected and actual outcomes") :]
    table = table[: table.index("</table>")]
    assert table.count("<tr") == 1 + 6 + 1  # head, six injects, one run-wide expectation
    assert re.search(r'<tr class="met">.*?X1.*?B-C closed.*?>met</td>', table, re.S)
    assert re.search(r'<tr class="not-met">.*?X2.*?12 t.*?not met</td>', table, re.S)


def test_text_from_the_events_is_escaped() -> None:
    r = base_run()
    r.add(
        NeedRaisedV1,
        1,
        {
            "need_id": "N<script>alert(1)</script>",
            "node_id": "N-A",
            "commodity": "water",
            "quantity": 1,
            "priority": "routine",
            "deadline": "2026-05-13T06:00:00+00:00",
        },
    )
    html = render_html(compute_kpis(r.events), network_view(r.events))
    assert "<script" not in html
    assert "N&lt;script&gt;" in html


def test_a_planned_run_says_it_was_not_executed() -> None:
    events = base_run().events
    html = render_html(compute_kpis(events), network_view(events))
    assert "planned, not executed" in html


def test_the_same_run_renders_the_same_bytes() -> None:
    events = base_run().events
    first = render_html(
        compute_kpis(events),
        network_view(events),
        [Expectation.of(TheirResult("a", "b", "c", "d", True))],
    )
    second = render_html(
        compute_kpis(events), network_view(events), [TheirResult("a", "b", "c", "d", True)]
    )
    assert first == second


def test_plots_are_inline_svg_with_page_unique_ids() -> None:
    kpis = compute_kpis(base_run().events)
    svg = inline_svg(replan_chart(kpis.replans.plans), "pz", "re-plans")
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids
    assert all(i.startswith("pz-") for i in ids)
    refs = re.findall(r'href="#([^"]+)"', svg) + re.findall(r"url\(#([^)]+)\)", svg)
    assert refs
    assert set(refs) <= set(ids)
    assert external_references(svg) == []
