"""The reference earthquake end to end: deterministic, re-planned on the cut, gaps explained."""

import json
from pathlib import Path
from typing import Any

import pytest

from simulations.aar import write_report
from simulations.exercise import run_exercise
from simulations.geography import BAOXING_NODE_ID, BRIDGE_LINK_ID
from simulations.replay import replay

pytestmark = [pytest.mark.sim, pytest.mark.timeout(900)]


def dispatch_events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]  # after the recording header
    return [r["event"] for r in rows if r["stream"] == "dispatch.events" and r["event"]]


async def test_the_reference_earthquake_replays_to_the_same_plans_and_explains_every_gap(
    tmp_path: Path,
) -> None:
    first = await run_exercise("sichuan-earthquake", tmp_path / "a")
    # The recording replayed through a fresh pipeline: every plan again, byte for byte.
    replayed = await replay(first.run_dir / "events.jsonl", tmp_path / "b")
    second = replayed.result

    hashes = [p["plan_hash"] for p in first.report["plans"]]
    assert len(hashes) >= 3
    assert replayed.identical
    assert hashes == [p["plan_hash"] for p in second.report["plans"]]
    assert first.report["needs"] == second.report["needs"]
    assert first.report["dead_letters"] == {}
    assert second.report["dead_letters"] == {}
    judged = first.report["expectations"]
    assert judged, "the reference scenario states expected outcomes"
    assert all(isinstance(e["met"], bool) and e["actual"] for e in judged)
    page = write_report(first.run_dir).read_text()
    assert "http://" not in page
    assert "https://" not in page

    cut_at = next(
        e["time"]
        for e in dispatch_events(first.run_dir)
        if e["type"] == "hinterland.dispatch.plan_requested.v1"
        and BRIDGE_LINK_ID in e["data"]["reason"]
    )
    for e in dispatch_events(first.run_dir):
        if e["type"] == "hinterland.dispatch.plan_published.v2" and e["time"] >= cut_at:
            used = {
                link for r in e["data"]["routes"] for s in r["stops"] for link in s["via_links"]
            }
            assert BRIDGE_LINK_ID not in used, e["data"]["plan_id"]

    for need in first.report["needs"]:
        if need["status"] != "served":
            assert need["reason"], need["need_id"]
        if need["node_id"] == BAOXING_NODE_ID:
            assert need["reason"] == "cut_off", need["need_id"]
    life = first.report["by_priority"]["life_saving"]
    assert life["dispatched_kg"] > 0
