"""The smoke scenario end to end: replays are identical and the cut road is never used."""

import json
from pathlib import Path
from typing import Any

import pytest

from simulations.exercise import ExerciseResult, run_exercise
from simulations.scenario import resolve_scenario_path

pytestmark = pytest.mark.sim

CUT_LINK = "L-road-chengdu-yaan"
CUT_DISRUPTION = "DIS-G5-CUT"

# Medical for Ya'an raised after the cut (t=1h): only Chengdu holds medical and the direct
# G5 road is the short way from there (with the road merely degraded the plan takes it),
# so only the closure keeps the plan off it.
LATE_NEED = "NEED-YAAN-MED-LATE"
AFTER_CUT_NEED = f"""
  - {{at_h: 1.5, event: need_raised, data: {{need_id: {LATE_NEED}, node_id: N-yaan,
     commodity: medical, quantity: 10, priority: life_saving, deadline_h: 12}}}}
"""


def recorded_events(run_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]  # after the recording header
    return [(r["stream"], r["event"]) for r in rows if r["event"] is not None]


def cut_time(events: list[tuple[str, dict[str, Any]]]) -> str:
    """Time of the transport service's closure of the cut link."""
    times = [
        e["time"]
        for stream, e in events
        if stream == "transport.events"
        and e["type"] == "hinterland.transport.link_status_changed.v1"
        and e["data"]["link_id"] == CUT_LINK
        and e["data"]["status"] == "closed"
    ]
    assert len(times) == 1, f"expected one closure of {CUT_LINK}, got {times}"
    return str(times[0])


def plans(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        e
        for stream, e in events
        if stream == "dispatch.events" and e["type"] == "hinterland.dispatch.plan_published.v2"
    ]


def links_used(plan: dict[str, Any]) -> set[str]:
    return {
        link
        for route in plan["data"]["routes"]
        for stop in route["stops"]
        for link in stop["via_links"]
    }


async def test_two_runs_of_the_smoke_scenario_publish_identical_plans(tmp_path: Path) -> None:
    first = await run_exercise("smoke", tmp_path / "first")
    second = await run_exercise("smoke", tmp_path / "second")
    hashes = [p["plan_hash"] for p in first.report["plans"]]
    assert hashes, "the smoke scenario published no plan"
    assert hashes == [p["plan_hash"] for p in second.report["plans"]]
    assert first.report["needs"] == second.report["needs"]
    assert first.report["dead_letters"] == {}
    assert {n["need_id"] for n in first.report["needs"]} == {
        "NEED-YAAN-MED",
        "NEED-BAOXING-WATER",
        "NEED-QIONGLAI-TENTS",
    }
    events = recorded_events(first.run_dir)
    closed_at = cut_time(events)
    for plan in plans(events):
        if plan["time"] >= closed_at:
            assert CUT_LINK not in links_used(plan)


@pytest.fixture
def smoke_with_late_need(tmp_path: Path) -> Path:
    text = resolve_scenario_path("smoke").read_text(encoding="utf-8")
    path = tmp_path / "smoke_late.yaml"
    path.write_text(text.rstrip("\n") + "\n" + AFTER_CUT_NEED.strip("\n") + "\n")
    return path


async def test_plans_after_the_cut_never_route_over_the_cut_road(
    tmp_path: Path, smoke_with_late_need: Path
) -> None:
    result: ExerciseResult = await run_exercise(smoke_with_late_need, tmp_path / "runs", "late")
    events = recorded_events(result.run_dir)
    closed_at = cut_time(events)
    after = [p for p in plans(events) if p["time"] >= closed_at]
    late = [p for p in after if any(n["need_id"] == LATE_NEED for n in p["data"]["needs"])]
    assert late, "no plan after the cut planned the late Ya'an need"
    served = [
        n
        for p in late
        for n in p["data"]["needs"]
        if n["need_id"] == LATE_NEED and n["served_kg"] > 0
    ]
    assert served, "the late Ya'an need was not served by the detour"
    for plan in after:
        assert CUT_LINK not in links_used(plan), f"plan {plan['data']['plan_id']} uses {CUT_LINK}"
    assert any(
        e["type"] == "hinterland.transport.disruption_applied.v1"
        and e["data"]["disruption_id"] == CUT_DISRUPTION
        for _, e in events
    )
