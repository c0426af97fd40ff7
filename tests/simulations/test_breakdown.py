"""A vehicle breaks down under way: what it owed is re-planned and the stock ledger balances."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from simulations.exercise import run_exercise
from simulations.scenario import SCENARIO_DIR, parse_scenario

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]

# In the smoke run A-CIV-CD-02 leaves Chengdu at 06:30 with 10 t of medical for Ya'an (unloaded
# at 10:45) and 10 t of water for Baoxing; at 08:00 it breaks down for good.
BROKEN = f"""
include: {SCENARIO_DIR / "smoke.yaml"}
name: smoke-breakdown
timeline:
  - {{at_h: 2.0, event: vehicle_breakdown, data: {{asset_id: A-CIV-CD-02}}}}
"""


def bus_events(run_dir: Path) -> list[dict]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()[1:]
    return [r["event"] for r in map(json.loads, lines) if r["event"]]


async def test_a_breakdown_under_way_is_re_planned_and_nothing_is_lost(tmp_path: Path) -> None:
    scenario = parse_scenario(BROKEN, tmp_path / "smoke-breakdown.yaml")
    result = await run_exercise("smoke-breakdown", tmp_path, "brk", scenario=scenario)
    events = bus_events(result.run_dir)

    [down] = [
        e
        for e in events
        if e["type"] == "hinterland.execution.order_progress_reported.v1"
        and e["data"]["stage"] == "broken_down"
    ]
    assert down["data"]["vehicle_id"] == "A-CIV-CD-02"
    aboard = {(c["need_id"], c["quantity_kg"]) for c in down["data"]["cargo"]}
    assert ("NEED-YAAN-MED", 10000) in aboard

    requests = [e for e in events if e["type"] == "hinterland.dispatch.plan_requested.v1"]
    assert any("A-CIV-CD-02 broke down" in e["data"]["reason"] for e in requests)
    # The water it carried for Baoxing goes again on another truck and arrives in full; the
    # medical for Ya'an cannot make its deadline any more, and the report says both why.
    needs = {n["need_id"]: n for n in result.report["needs"]}
    water = needs["NEED-BAOXING-WATER"]
    assert (water["status"], water["delivered_kg"]) == ("served", 30000)
    assert unloaded_by(events, "NEED-BAOXING-WATER") == {"A-CIV-CD-01": 20000, "A-CIV-CD-03": 10000}
    med = needs["NEED-YAAN-MED"]
    assert (med["status"], med["delivered_kg"], med["reason"]) == (
        "unserved",
        0,
        "vehicle_broke_down",
    )
    assert "10 t aboard A-CIV-CD-02" in med["detail"]
    assert "re-plan: deadline_unreachable" in med["detail"]

    # The ledger: what the broken truck holds stays in transit; every line balances.
    with sqlite3.connect(result.run_dir / "hinterland.sqlite") as conn:
        rows = conn.execute(
            "SELECT depot_id, commodity, on_hand_kg, reserved_kg, in_transit_kg, delivered_kg,"
            " adjusted_in_kg, adjusted_out_kg FROM reserves_stock"
        ).fetchall()
    for depot, commodity, on_hand, reserved, transit, delivered, adj_in, adj_out in rows:
        assert adj_in - adj_out == on_hand + transit + delivered, (depot, commodity)
        assert 0 <= reserved <= on_hand, (depot, commodity)
    stranded = {(d, c): t for d, c, _, _, t, *_ in rows if t}
    assert stranded == {("D-CD-PROV", "medical"): 10000, ("D-CD-PROV", "water"): 10000}


def unloaded_by(events: list[dict], need_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        if (
            e["type"] == "hinterland.execution.order_progress_reported.v1"
            and e["data"]["stage"] == "unloaded"
        ):
            for c in e["data"]["cargo"]:
                if c["need_id"] == need_id:
                    out[e["data"]["vehicle_id"]] = (
                        out.get(e["data"]["vehicle_id"], 0) + c["quantity_kg"]
                    )
    return out
