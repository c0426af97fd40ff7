"""Scenario files: loading, replay as events, and the error messages authors see."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from contracts import streams
from contracts.catalogue import INGRESS_TYPES, parse_event
from contracts.incidents import DisruptionReported, NeedRaised
from simulations.geography import BAOXING_NODE_ID, BRIDGE_LINK_ID
from simulations.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

SMOKE = Path(__file__).parents[3] / "simulations" / "scenarios" / "smoke.yaml"


@pytest.fixture(scope="module")
def reference() -> Scenario:
    return load_scenario("sichuan-earthquake")


def _write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _smoke_with(tmp_path: Path, old: str, new: str) -> Path:
    text = SMOKE.read_text(encoding="utf-8")
    assert old in text
    return _write(tmp_path, text.replace(old, new, 1))


def test_the_reference_scenario_loads_with_the_intended_sizes(reference: Scenario) -> None:
    needs = [i.payload for i in reference.injects if isinstance(i.payload, NeedRaised)]
    assert len(reference.spec.depots) == 15
    assert 60 <= len(reference.assets) <= 80
    assert 30 <= len(needs) <= 45
    assert {n.priority for n in needs} == {"life_saving", "sustaining", "routine"}
    assert all(5 <= n.quantity <= 400 for n in needs)
    assert {a.owner for a, _ in reference.assets} == {"civil", "military"}
    assert {a.mode for a, _ in reference.assets} == {"road", "rail", "air", "water"}


def test_the_reference_scenario_cuts_the_bridge_at_two_hours(reference: Scenario) -> None:
    cut = [
        i
        for i in reference.injects
        if isinstance(i.payload, DisruptionReported) and BRIDGE_LINK_ID in i.payload.links
    ]
    assert [(i.at_h, i.payload.kind) for i in cut] == [(2.0, "link_cut")]  # type: ignore[attr-defined]


def test_the_reference_scenario_leaves_only_baoxing_cut_off_by_road(reference: Scenario) -> None:
    closed = {
        link
        for i in reference.injects
        if isinstance(i.payload, DisruptionReported) and i.payload.degrade_factor is None
        for link in i.payload.links
    }
    adjacent: dict[str, set[str]] = defaultdict(set)
    for link in reference.network.links:
        if link.mode == "road" and link.link_id not in closed:
            adjacent[link.a].add(link.b)
            adjacent[link.b].add(link.a)
    reached, stack = {"N-chengdu"}, ["N-chengdu"]
    while stack:
        for other in adjacent[stack.pop()] - reached:
            reached.add(other)
            stack.append(other)
    need_nodes = {i.payload.node_id for i in reference.injects if isinstance(i.payload, NeedRaised)}
    assert need_nodes - reached == {BAOXING_NODE_ID}


def test_the_smoke_scenario_loads_small(tmp_path: Path) -> None:
    smoke = load_scenario("smoke")
    assert len(smoke.network.nodes) == 4
    assert len(smoke.spec.depots) == 2
    assert len(smoke.assets) == 3
    assert len([i for i in smoke.injects if i.event == "need_raised"]) == 3
    assert load_scenario(SMOKE).events("r") == smoke.events("r")


def test_events_start_with_the_world_then_injects_in_time_order(reference: Scenario) -> None:
    events = reference.events("run-1")
    kinds = [e.event.type for e in events]
    first_inject = next(i for i, t in enumerate(kinds) if "incidents" in t)
    assert all(e.at == reference.start for e in events[:first_inject])
    assert kinds[0].endswith("node_registered.v1")
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert {e.stream for e in events} == {streams.INGRESS}
    assert set(kinds) <= INGRESS_TYPES


def test_events_are_identical_for_the_same_run_id_and_differ_for_another(
    reference: Scenario,
) -> None:
    once = [e.event.model_dump_json() for e in reference.events("run-1")]
    again = [e.event.model_dump_json() for e in load_scenario("sichuan-earthquake").events("run-1")]
    other = [e.event.model_dump_json() for e in reference.events("run-2")]
    assert once == again
    assert once != other
    assert len({e.event.id for e in reference.events("run-1")}) == len(once)


def test_events_carry_run_id_source_subject_and_mode(reference: Scenario) -> None:
    events = reference.events("run-7", mode="live")
    for e in events:
        assert e.event.correlationid == "run-7"
        assert e.event.source == "/hinterland/exercise/sichuan-earthquake"
        assert e.event.mode == "live"
        assert e.event.subject
        assert e.event.time == e.at
        assert parse_event(e.event.model_dump_json()) == e.event


def test_military_depots_and_assets_are_classified_military(reference: Scenario) -> None:
    for e in reference.events("r"):
        if e.event.subject in ("D-MIL-DEYANG", "A-MIL-TRK-01", "A-AIR-MIL-02"):
            assert e.event.classification == "military"


def test_deadline_h_and_observed_at_are_derived_from_the_inject_time() -> None:
    smoke = load_scenario("smoke")
    need = next(i for i in smoke.injects if i.subject == "NEED-QIONGLAI-TENTS")
    assert isinstance(need.payload, NeedRaised)
    assert (need.payload.deadline - need.at).total_seconds() == 24 * 3600
    cut = next(i for i in smoke.injects if i.subject == "DIS-G5-CUT")
    assert isinstance(cut.payload, DisruptionReported)
    assert cut.payload.observed_at == cut.at


def test_a_typo_in_a_node_id_names_file_field_path_and_suggestion(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "node_id: N-baoxing", "node_id: N-baoxng")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert "timeline[1].data.node_id" in message
    assert "unknown node 'N-baoxng' (did you mean 'N-baoxing'?)" in message


def test_a_typo_in_a_depot_node_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "node_id: N-qionglai, tier", "node_id: N-qionglia, tier")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:17: depots\[1\]\.node_id: unknown node"):
        load_scenario(path)


def test_a_negative_quantity_is_a_clear_error(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "quantity: 10", "quantity: -10")
    with pytest.raises(ScenarioError, match=r"timeline\[0\]\.data\.quantity: .*greater than 0"):
        load_scenario(path)


def test_an_inject_before_the_start_is_a_clear_error(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "at_h: 0.5", "at_h: -0.5")
    with pytest.raises(
        ScenarioError,
        match=r"bad\.yaml:29: timeline\[2\]\.at_h: inject at -0\.5 h is before the start",
    ):
        load_scenario(path)


def test_an_inject_after_the_end_is_a_clear_error(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "at_h: 0.5", "at_h: 30")
    with pytest.raises(ScenarioError, match=r"timeline\[2\]\.at_h: inject at 30.* after the end"):
        load_scenario(path)


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nstart: [unclosed\nduration_h: 3\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_scenario(path)


def test_duplicate_need_ids_are_refused(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "NEED-QIONGLAI-TENTS", "NEED-YAAN-MED")
    with pytest.raises(ScenarioError, match=r"timeline\[2\]\.data\.need_id: duplicate id"):
        load_scenario(path)


def test_duplicate_asset_ids_after_expansion_are_refused(tmp_path: Path) -> None:
    extra = (
        "  - {asset_id: A-CIV-CD, mode: road, capacity_t: 20, speed_kmh: 60,"
        " home_node_id: N-chengdu}\n\ntimeline:"
    )
    path = _smoke_with(tmp_path, "\ntimeline:", extra)
    with pytest.raises(ScenarioError, match=r"assets\[1\]\.asset_id: duplicate id 'A-CIV-CD-01'"):
        load_scenario(path)


def test_an_unknown_field_in_inject_data_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "priority: sustaining", "priority: sustaining, precedense: 2")
    with pytest.raises(ScenarioError, match=r"precedense: unknown field .*'precedence'"):
        load_scenario(path)


def test_a_missing_required_field_is_named(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "commodity: tents, ", "")
    with pytest.raises(ScenarioError, match=r"timeline\[2\]\.data\.commodity: Field required"):
        load_scenario(path)


def test_an_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="smoke"):
        load_scenario("no-such-scenario")


def test_several_problems_are_reported_together() -> None:
    text = (
        SMOKE.read_text(encoding="utf-8")
        .replace("N-yaan,", "N-yan,")
        .replace("quantity: 30", "quantity: 0")
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "inline.yaml")
    paths = [p.split(": ")[1] for p in caught.value.problems]
    assert paths == ["network.nodes[2]", "timeline[0].data.node_id", "timeline[1].data.quantity"]


def test_a_non_positive_deadline_h_is_one_clear_error(tmp_path: Path) -> None:
    path = _smoke_with(tmp_path, "deadline_h: 6", "deadline_h: -6")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert len(caught.value.problems) == 1
    assert "timeline[0].data.deadline_h: expected a number of hours > 0" in str(caught.value)
