"""The scenario language of issue 4: parameters, random disruptions, generated worlds, include and
override, vehicle breakdowns, expected outcomes, and the errors authors see for each."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.incidents import DisruptionReported, NeedRaised
from contracts.transport import LinkStatusChanged
from simulations.scenario import (
    Scenario,
    ScenarioError,
    available_scenarios,
    load_scenario,
    parse_scenario,
)

SCENARIOS = Path(__file__).parents[3] / "simulations" / "scenarios"

BASE = """\
name: mini
start: 2026-05-12T06:00:00+00:00
duration_h: 24
seed: 5
network:
  clusters: [chengdu_chongqing]
  nodes: [N-chengdu, N-qionglai, N-yaan, N-baoxing]
depots:
  - {depot_id: D-CD, name: "Chengdu reserve", node_id: N-chengdu, tier: provincial,
     stock: {water: 100, medical: 10}}
assets:
  - {asset_id: A-CD, mode: road, capacity_t: 20, speed_kmh: 60, home_node_id: N-chengdu,
     count: 2}
"""

NEED = """\
  - {at_h: 1, event: need_raised, data: {need_id: NEED-1, node_id: N-yaan, commodity: water,
     quantity: 10, priority: life_saving, deadline_h: 6}}
"""


def scenario(extra: str = "", timeline: str = NEED, **kwargs: Any) -> Scenario:
    text = BASE + textwrap.dedent(extra) + "timeline:\n" + timeline
    return parse_scenario(text, "mini.yaml", **kwargs)


def problems(extra: str = "", timeline: str = NEED, **kwargs: Any) -> str:
    with pytest.raises(ScenarioError) as caught:
        scenario(extra, timeline, **kwargs)
    return str(caught.value)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def event_bytes(s: Scenario, run_id: str = "r") -> list[str]:
    return [e.event.model_dump_json() for e in s.events(run_id)]


# --- parameters ----------------------------------------------------------------------------

PARAMS = """\
parameters:
  cut_h: {default: 2.5, min: 0, max: 24, description: "When the road is cut"}
  label: G5
  severity: 3
"""

CUT = (
    NEED
    + """\
  - at_h: $cut_h
    event: disruption_reported
    data: {disruption_id: DIS-CUT, kind: link_cut, severity: $severity,
           links: [L-road-chengdu-yaan], description: "${label} cut at ${cut_h} h, costs $$0"}
"""
)


def _cut(s: Scenario) -> DisruptionReported:
    payload = next(i.payload for i in s.injects if i.subject == "DIS-CUT")
    assert isinstance(payload, DisruptionReported)
    return payload


def test_parameters_are_substituted_with_their_type_and_interpolated_in_text() -> None:
    s = scenario(PARAMS, CUT)
    cut = next(i for i in s.injects if i.subject == "DIS-CUT")
    assert cut.at_h == 2.5
    assert _cut(s).severity == 3
    assert _cut(s).description == "G5 cut at 2.5 h, costs $0"
    assert dict(s.parameters) == {"cut_h": 2.5, "label": "G5", "severity": 3}


def test_overrides_replace_parameter_defaults() -> None:
    s = scenario(PARAMS, CUT, overrides={"cut_h": 12, "label": "G85"})
    assert next(i for i in s.injects if i.subject == "DIS-CUT").at_h == 12
    assert _cut(s).description == "G85 cut at 12 h, costs $0"
    assert s.parameters["cut_h"] == 12


def test_an_unknown_override_is_refused_with_a_suggestion() -> None:
    message = problems(PARAMS, CUT, overrides={"cut_hour": 3})
    assert "mini.yaml: overrides.cut_hour: unknown parameter 'cut_hour'" in message
    assert "(did you mean 'cut_h'?)" in message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "expected a number like the default 2.5 (got 'soon')"),
        (True, "expected a number"),
        (30, "30 is above max 24"),
        (-1, "-1 is below min 0"),
    ],
)
def test_an_override_of_the_wrong_type_or_out_of_bounds_is_refused(
    value: object, message: str
) -> None:
    assert message in problems(PARAMS, CUT, overrides={"cut_h": value})


def test_an_unknown_parameter_reference_names_file_line_and_field() -> None:
    timeline = CUT.replace("severity: $severity", "severity: $severty")
    message = problems(PARAMS, timeline)
    assert "mini.yaml:23: timeline[1].data.severity: unknown parameter 'severty'" in message
    assert "did you mean 'severity'?" in message


def test_a_default_outside_its_bounds_is_refused() -> None:
    bad = PARAMS.replace("default: 2.5", "default: 30")
    assert "mini.yaml:15: parameters.cut_h: default 30 is above max 24" in problems(bad, CUT)


def test_an_inject_moved_after_the_end_by_an_override_is_a_clear_error() -> None:
    message = problems(PARAMS.replace("max: 24", "max: 99"), CUT, overrides={"cut_h": 30})
    assert "timeline[1].at_h: inject at 30 h is after the end of the scenario" in message


# --- random disruptions and the seed ------------------------------------------------------

RANDOM = """\
random_disruptions:
  - id: RND-CUT
    probability: {p}
    window_h: [2, 20]
    kind: link_cut
    links: [L-road-chengdu-yaan, L-road-chengdu-qionglai, L-road-qionglai-yaan,
            L-road-baoxing-yaan, L-road-baoxing-qionglai]
    repair_h: 3
"""


def _random(s: Scenario) -> list[tuple[float, str, str]]:
    return [(i.at_h, i.event, i.subject) for i in s.injects if i.generated_by]


def test_the_same_seed_gives_the_same_random_disruptions_and_the_same_events() -> None:
    first, again = scenario(RANDOM.format(p=0.5)), scenario(RANDOM.format(p=0.5))
    assert _random(first) == _random(again)
    assert event_bytes(first) == event_bytes(again)


def test_different_seeds_give_different_random_disruptions() -> None:
    draws = {tuple(_random(scenario(RANDOM.format(p=0.5), seed=seed))) for seed in range(8)}
    assert len(draws) > 4


def test_the_seed_argument_replaces_the_files_seed() -> None:
    s = scenario(RANDOM.format(p=0.5), seed=99)
    assert s.seed == 99
    assert _random(s) == _random(parse_scenario_with_seed_in_file(99))


def parse_scenario_with_seed_in_file(seed: int) -> Scenario:
    text = BASE.replace("seed: 5", f"seed: {seed}") + RANDOM.format(p=0.5) + "timeline:\n" + NEED
    return parse_scenario(text, "mini.yaml")


def test_probability_one_fails_every_candidate_in_the_window_with_its_repair() -> None:
    s = scenario(RANDOM.format(p=1))
    cuts = [i for i in s.injects if i.event == "disruption_reported"]
    assert sorted(i.subject for i in cuts) == sorted(
        f"RND-CUT-{link}"
        for link in (
            "L-road-chengdu-yaan",
            "L-road-chengdu-qionglai",
            "L-road-qionglai-yaan",
            "L-road-baoxing-yaan",
            "L-road-baoxing-qionglai",
        )
    )
    for cut in cuts:
        assert 2 <= cut.at_h <= 20
        assert cut.generated_by == "random_disruptions[0]"
        assert isinstance(cut.payload, DisruptionReported)
        assert cut.payload.observed_at == cut.at
        [link] = cut.payload.links
        repair = next(
            i for i in s.injects if i.event == "link_status_changed" and i.subject == link
        )
        assert isinstance(repair.payload, LinkStatusChanged)
        assert repair.payload.status == "open"
        assert repair.at_h == pytest.approx(cut.at_h + 3)
    assert [i.at_h for i in s.injects] == sorted(i.at_h for i in s.injects)
    assert len({cut.at_h for cut in cuts}) == len(cuts)  # each candidate has its own draw


def test_probability_zero_fails_nothing() -> None:
    assert _random(scenario(RANDOM.format(p=0))) == []


def test_adding_a_candidate_does_not_change_the_draws_of_the_others() -> None:
    fewer = RANDOM.format(p=0.5).replace(
        ",\n            L-road-baoxing-yaan, L-road-baoxing-qionglai", ""
    )
    kept = {
        "RND-CUT-L-road-chengdu-yaan",
        "RND-CUT-L-road-chengdu-qionglai",
        "RND-CUT-L-road-qionglai-yaan",
    }
    for seed in range(5):
        small = [x for x in _random(scenario(fewer, seed=seed)) if x[2].startswith("RND-CUT")]
        large = [x for x in _random(scenario(RANDOM.format(p=0.5), seed=seed)) if x[2] in kept]
        assert small == large


def test_a_random_disruption_with_an_unknown_link_or_a_late_window_is_refused() -> None:
    bad = RANDOM.format(p=0.5).replace("L-road-qionglai-yaan,", "L-road-qionglai-yan,")
    message = problems(bad)
    assert "random_disruptions[0].links[2]: unknown link 'L-road-qionglai-yan'" in message
    assert "did you mean 'L-road-qionglai-yaan'?" in message
    late = RANDOM.format(p=0.5).replace("[2, 20]", "[2, 30]")
    assert "random_disruptions[0].window_h[1]: window ends at 30 h, after the end" in problems(late)


# --- generated world ---------------------------------------------------------------------------

GENERATE = """\
generate:
  depots: {count: 4, stock_t: {water: [10, 50], grain: [100, 200]}}
  assets: {per_depot: 2}
  needs: {count: 30, window_h: [0, 12], step_h: 0.5, commodities: {water: 1, grain: 2},
          quantity_t: [1, 5], deadline_h: [6, 12], nodes: [N-yaan, N-baoxing]}
"""


def test_a_generated_world_is_deterministic_per_seed_and_sized_as_asked() -> None:
    s = scenario(GENERATE)
    assert [d.depot_id for d in s.generated_depots] == [f"D-GEN-{i:04d}" for i in range(1, 5)]
    assert [d.depot_id for d in s.depots][:1] == ["D-CD"]
    assert len(s.assets) == 2 + 4 * 2
    needs = [i for i in s.injects if i.generated_by == "generate.needs"]
    assert len(needs) == 30
    for i in needs:
        assert isinstance(i.payload, NeedRaised)
        assert i.payload.node_id in {"N-yaan", "N-baoxing"}
        assert 1 <= i.payload.quantity <= 5
        assert i.at_h % 0.5 == 0
        assert 0 <= i.at_h <= 12
        assert 6 <= (i.payload.deadline - i.at).total_seconds() / 3600 <= 12
    assert event_bytes(s) == event_bytes(scenario(GENERATE))
    assert event_bytes(s) != event_bytes(scenario(GENERATE, seed=6))


def test_generated_items_appear_in_the_events() -> None:
    kinds = [e.event.type.split(".")[-2] for e in scenario(GENERATE).events("r")]
    assert kinds.count("depot_registered") == 5
    assert kinds.count("need_raised") == 31


def test_a_generated_need_node_must_exist() -> None:
    bad = GENERATE.replace("nodes: [N-yaan, N-baoxing]", "nodes: [N-yaan, N-lanzhou]")
    assert "generate.needs.nodes[1]: unknown node 'N-lanzhou'" in problems(bad)


# --- vehicle breakdowns ------------------------------------------------------------------------

BREAKDOWN = (
    NEED
    + """\
  - {at_h: 3, event: vehicle_breakdown, data: {asset_id: A-CD-02, repair_h: 4.5}}
  - {at_h: 2, event: vehicle_breakdown, data: {asset_id: A-CD-01}}
"""
)


def test_breakdowns_are_exposed_in_time_order_and_never_published() -> None:
    s = scenario(timeline=BREAKDOWN)
    assert [(b.at_h, b.asset_id, b.repair_h) for b in s.breakdowns] == [
        (2.0, "A-CD-01", None),
        (3.0, "A-CD-02", 4.5),
    ]
    assert s.breakdowns[1].at == s.start.replace(hour=9)
    assert event_bytes(s) == event_bytes(scenario())
    assert all(i.event != "vehicle_breakdown" for i in s.injects)  # type: ignore[comparison-overlap]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{asset_id: A-CD-03}", "timeline[1].data.asset_id: unknown asset 'A-CD-03'"),
        ("{asset_id: A-CD-01, repair_h: 0}", "timeline[1].data.repair_h: Input should be greater"),
        ("{asset_id: A-CD-01, repair: 2}", "timeline[1].data.repair: unknown field for vehicle"),
        ("{repair_h: 2}", "timeline[1].data.asset_id: Field required"),
    ],
)
def test_a_bad_breakdown_is_refused_with_its_field(data: str, message: str) -> None:
    timeline = NEED + f"  - {{at_h: 3, event: vehicle_breakdown, data: {data}}}\n"
    assert message in problems(timeline=timeline)


def test_a_breakdown_after_the_end_is_refused() -> None:
    timeline = NEED + "  - {at_h: 25, event: vehicle_breakdown, data: {asset_id: A-CD-01}}\n"
    assert "mini.yaml:17: timeline[1].at_h: breakdown at 25 h is after the end" in problems(
        timeline=timeline
    )


# --- expected outcomes -------------------------------------------------------------------------

EXPECT = """\
  - at_h: 0.5
    event: disruption_reported
    data: {disruption_id: DIS-Q, kind: earthquake, severity: 4, links: [L-road-baoxing-yaan]}
    expect:
      - id: EXP-A
        description: "Water at Ya'an within 6 h"
        needs: {priority: life_saving, node_ids: [N-yaan]}
        within_h: 6
      - {id: EXP-B, first_delivery_within_h: 2}
  - at_h: 1
    event: need_raised
    data: {need_id: NEED-1, node_id: N-yaan, commodity: water, quantity: 10,
           priority: life_saving, deadline_h: 6}
    expect: [{id: EXP-C, needs: {need_ids: [NEED-1]}, by_deadline: true}]
  - at_h: 0.25
    event: vehicle_breakdown
    data: {asset_id: A-CD-01}
    expect: [{id: EXP-D, needs: {region: Sichuan}, served_fraction_at_least: 0.5}]
"""


def test_expectations_are_bound_to_their_inject_time_and_listed_in_time_order() -> None:
    s = scenario(timeline=EXPECT)
    assert [(e.id, e.at, e.inject) for e in s.expectations] == [
        ("EXP-D", s.start.replace(minute=15), "A-CD-01"),
        ("EXP-A", s.start.replace(minute=30), "DIS-Q"),
        ("EXP-B", s.start.replace(minute=30), "DIS-Q"),
        ("EXP-C", s.start.replace(hour=7), "NEED-1"),
    ]
    quake = next(i for i in s.injects if i.subject == "DIS-Q")
    assert [e.id for e in quake.expect] == ["EXP-A", "EXP-B"]
    assert [e.id for e in s.breakdowns[0].expect] == ["EXP-D"]
    assert quake.expect[0].spec.within_h == 6


def test_expectations_do_not_change_the_events() -> None:
    entries = yaml.safe_load(EXPECT)
    for entry in entries:
        del entry["expect"]
    without = scenario(timeline=yaml.safe_dump(entries))
    assert without.expectations == ()
    assert event_bytes(scenario(timeline=EXPECT)) == event_bytes(without)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("node_ids: [N-yaan]", "node_ids: [N-yan]", "expect[0].needs.node_ids[0]: unknown node"),
        ("need_ids: [NEED-1]", "need_ids: [NEED-2]", "expect[0].needs.need_ids[0]: unknown need"),
        (
            "region: Sichuan",
            "region: Sichaun",
            "needs.region[0]: unknown region 'Sichaun' (did you mean 'Sichuan'?)",
        ),
        ("{id: EXP-B, ", "{id: EXP-A, ", "timeline[0].expect[1].id: duplicate id 'EXP-A'"),
        ("{id: EXP-B, first_delivery_within_h: 2}", "{id: EXP-B}", "say what to check"),
        ("within_h: 6\n", "within_h: 6\n        wihtin: 3\n", "expect[0].wihtin: Extra inputs"),
        (
            "needs: {priority: life_saving, node_ids: [N-yaan]}",
            "needs: {priority: routine}",
            "timeline[0].expect[0].needs: no need of this scenario matches",
        ),
    ],
)
def test_a_bad_expectation_is_refused_with_file_line_and_field(
    old: str, new: str, message: str
) -> None:
    assert old in EXPECT
    assert message in problems(timeline=EXPECT.replace(old, new, 1))


def test_a_bad_expectation_is_located_on_its_line() -> None:
    timeline = EXPECT.replace("node_ids: [N-yaan]", "node_ids: [N-yan]")
    assert "mini.yaml:21: timeline[0].expect[0].needs.node_ids[0]" in problems(timeline=timeline)


# --- include and override ---------------------------------------------------------------------

CHILD = """\
include: base.yaml
name: child
parameters:
  cut_h: 4
depots:
  - {depot_id: D-CD, stock: {water: 300}}
  - {depot_id: D-QL, name: "Qionglai reserve", node_id: N-qionglai, tier: county}
assets:
  - {asset_id: A-QL, mode: road, capacity_t: 10, speed_kmh: 50, home_node_id: N-qionglai}
timeline:
  - {at_h: 5, event: need_raised, data: {need_id: NEED-2, node_id: N-baoxing,
     commodity: water, quantity: 5, priority: sustaining, deadline_h: 12}}
"""


@pytest.fixture
def family(tmp_path: Path) -> Path:
    write(tmp_path, "base.yaml", BASE + PARAMS + "timeline:\n" + CUT)
    return write(tmp_path, "child.yaml", CHILD)


def test_an_including_file_merges_onto_the_included_one(family: Path) -> None:
    s = load_scenario(family)
    assert s.name == "child"
    assert s.spec.start.hour == 6  # inherited
    # a depot with the same id is merged in place, new ones are appended
    assert [(d.depot_id, d.name, d.stock) for d in s.depots] == [
        ("D-CD", "Chengdu reserve", {"water": 300, "medical": 10}),
        ("D-QL", "Qionglai reserve", {}),
    ]
    assert [a.asset_id for a, _ in s.assets] == ["A-CD-01", "A-CD-02", "A-QL-01"]
    assert [i.subject for i in s.injects] == ["NEED-1", "DIS-CUT", "NEED-2"]
    # the child changed the default of the parent's parameter; substitution came after merging
    assert next(i.at_h for i in s.injects if i.subject == "DIS-CUT") == 4
    assert s.parameters["cut_h"] == 4
    assert [p.name for p in s.sources] == ["child.yaml", "base.yaml"]


def test_overrides_reach_parameters_declared_in_an_included_file(family: Path) -> None:
    s = load_scenario(family, overrides={"cut_h": 7, "severity": 5})
    cut = next(i for i in s.injects if i.subject == "DIS-CUT")
    assert cut.at_h == 7
    assert isinstance(cut.payload, DisruptionReported)
    assert cut.payload.severity == 5


def test_replace_takes_a_list_outright_or_removes_it(tmp_path: Path, family: Path) -> None:
    replaced = write(tmp_path, "r.yaml", CHILD + "replace: [timeline, assets]\n")
    s = load_scenario(replaced)
    assert [i.subject for i in s.injects] == ["NEED-2"]
    assert [a.asset_id for a, _ in s.assets] == ["A-QL-01"]
    removed = write(tmp_path, "n.yaml", "include: base.yaml\nname: n\nreplace: [timeline]\n")
    assert load_scenario(removed).injects == ()


def test_a_shipped_scenario_can_be_included_by_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "variant.yaml",
        """\
        include: smoke
        name: smoke-variant
        depots:
          - {depot_id: D-QL-CTY, stock: {water: 0}}
        """,
    )
    s = load_scenario(path)
    smoke = load_scenario("smoke")
    assert s.name == "smoke-variant"
    assert next(d for d in s.depots if d.depot_id == "D-QL-CTY").stock == {"water": 0, "tents": 10}
    assert s.injects == smoke.injects
    assert s.sources[1] == SCENARIOS / "smoke.yaml"


def test_an_error_in_an_included_file_names_that_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE + "timeline:\n" + NEED.replace("N-yaan", "N-yan"))
    child = write(tmp_path, "child.yaml", "include: base.yaml\nname: child\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(child)
    assert f"{tmp_path / 'base.yaml'}:15: timeline[0].data.node_id: unknown node 'N-yan'" in str(
        caught.value
    )


def test_a_yaml_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "name: [unclosed\n")
    child = write(tmp_path, "child.yaml", "include: base.yaml\nname: child\n")
    with pytest.raises(ScenarioError, match=r"base\.yaml:\d+: invalid YAML"):
        load_scenario(child)


def test_an_include_cycle_is_refused_naming_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: a\ninclude: b.yaml\n")
    write(tmp_path, "b.yaml", "include: [a.yaml]\nname: b\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "a.yaml")
    message = str(caught.value)
    assert f"{tmp_path / 'b.yaml'}:1: include: include cycle" in message
    real = tmp_path.resolve()
    assert f"{real / 'a.yaml'} -> {real / 'b.yaml'} -> {real / 'a.yaml'}" in message


def test_a_file_including_itself_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "self.yaml", "name: s\ninclude: self\n")
    with pytest.raises(ScenarioError, match=r"self\.yaml:2: include: include cycle"):
        load_scenario(path)


def test_a_missing_include_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", "name: c\n\ninclude: nowhere.yaml\n")
    with pytest.raises(ScenarioError, match=r"c\.yaml:3: include: cannot find 'nowhere\.yaml'"):
        load_scenario(path)


def test_replace_without_include_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", BASE + "replace: [timeline]\n")
    with pytest.raises(ScenarioError, match=r"c\.yaml:14: replace: only meaningful with include"):
        load_scenario(path)


# --- bad input the issue lists -------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("at_h: 1,", "at_h: -1,", "mini.yaml:15: timeline[0].at_h: inject at -1 h is before"),
        ("at_h: 1,", "at_h: 25,", "mini.yaml:15: timeline[0].at_h: inject at 25 h is after"),
        ("N-yaan,", "N-yaa,", "mini.yaml:15: timeline[0].data.node_id: unknown node 'N-yaa'"),
    ],
)
def test_bad_injects_name_file_line_and_field(old: str, new: str, message: str) -> None:
    assert message in problems(timeline=NEED.replace(old, new))


def test_unknown_depot_asset_and_link_references_name_their_field() -> None:
    timeline = NEED + (
        "  - {at_h: 2, event: stock_level_reported,\n"
        "     data: {depot_id: D-CX, commodity: water, quantity: 5, unit: t}}\n"
        "  - {at_h: 2, event: asset_status_changed, data: {asset_id: A-CD-09, status: lost}}\n"
        "  - {at_h: 2, event: link_status_changed, data: {link_id: L-road-x, status: closed}}\n"
    )
    message = problems(timeline=timeline)
    assert "mini.yaml:18: timeline[1].data.depot_id: unknown depot 'D-CX'" in message
    assert "mini.yaml:19: timeline[2].data.asset_id: unknown asset 'A-CD-09'" in message
    assert "mini.yaml:20: timeline[3].data.link_id: unknown link 'L-road-x'" in message


# --- the shipped library -----------------------------------------------------------------------


@pytest.mark.parametrize("name", available_scenarios())
def test_every_shipped_scenario_loads_and_replays(name: str) -> None:
    s = load_scenario(name)
    events = s.events("r")
    assert events
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert s.narrative.strip()
    assert all(s.start <= e.at <= s.end for e in events)


def test_the_library_holds_the_scenarios_of_the_issue() -> None:
    assert {
        "sichuan-earthquake",
        "yangtze-flood",
        "northwest-cold-wave",
        "military-surge",
        "national-stress",
    } <= set(available_scenarios())


def _yaml_without_expect(path: Path) -> str:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in raw["timeline"]:
        entry.pop("expect", None)
    return yaml.safe_dump(raw)


def test_the_reference_expectations_leave_the_reference_events_unchanged() -> None:
    reference = load_scenario("sichuan-earthquake")
    stripped = parse_scenario(_yaml_without_expect(SCENARIOS / "sichuan-earthquake.yaml"))
    assert len(reference.expectations) >= 3
    assert stripped.expectations == ()
    assert event_bytes(reference) == event_bytes(stripped)
