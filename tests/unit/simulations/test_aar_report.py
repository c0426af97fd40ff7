"""write_report on run folders: hand-built ones, broken ones, and a real smoke run."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from contracts.catalogue import Event
from simulations.aar import AarInputError, Expectation, read_events, write_report
from tests.unit.simulations.test_aar_html import external_references, svg_by_id
from tests.unit.simulations.test_aar_kpis import base_run, executed_run


def write_run(run_dir: Path, events: list[Event], extra_lines: Sequence[str] = ()) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"stream": "ingress.events", "event": json.loads(e.model_dump_json())})
        for e in events
    ]
    (run_dir / "events.jsonl").write_text("\n".join([*lines, *extra_lines]) + "\n")
    return run_dir


def test_write_report_writes_the_html_page_and_the_json_beside_it(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run-1", executed_run().events)
    page = write_report(run, [Expectation("X1", "grain", "20 t", "12 t", False, inject="N2")])
    assert page == run / "report.html"
    assert external_references(page.read_text()) == []
    doc = json.loads((run / "aar.json").read_text())
    assert doc["kpis"]["execution"]["basis"] == "executed"
    assert doc["kpis"]["fill_by_priority"]["sustaining"]["delivered_kg"] == 12_000
    assert doc["expectations"] == [
        {
            "id": "X1",
            "description": "grain",
            "expected": "20 t",
            "actual": "12 t",
            "met": False,
            "inject": "N2",
        }
    ]
    assert doc["kpis"]["run"]["run_id"] == "run-1"


def test_expectations_and_metadata_come_from_the_runs_report_json(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", base_run().events)
    (run / "report.json").write_text(
        json.dumps(
            {
                "scenario": "aar-test",
                "title": "Hand-built",
                "wall_time_s": 1.5,
                "expectations": [
                    {"id": "E1", "description": "d", "expected": 1, "actual": 2, "met": None}
                ],
            }
        )
    )
    write_report(run)
    doc = json.loads((run / "aar.json").read_text())
    assert doc["expectations"][0]["id"] == "E1"
    assert doc["expectations"][0]["met"] is None
    assert doc["kpis"]["run"]["title"] == "Hand-built"
    assert "After-action report: Hand-built" in (run / "report.html").read_text()


def test_dead_letters_and_null_entries_are_kept_not_fatal(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "r",
        base_run().events,
        [
            json.dumps({"stream": "dispatch.events.dead", "event": {"id": "d1", "type": "x.v9"}}),
            json.dumps({"stream": "reserves.events.dead", "event": None}),
            json.dumps({"stream": "ingress.events", "event": None}),
        ],
    )
    recorded = read_events(run / "events.jsonl")
    assert [(d.stream, d.event_id, d.line) for d in recorded.dead_letters] == [
        ("dispatch.events.dead", "d1", len(base_run().events) + 1),
        ("reserves.events.dead", None, len(base_run().events) + 2),
    ]
    write_report(run)
    assert json.loads((run / "aar.json").read_text())["kpis"]["dead_letters"]["total"] == 2


def test_a_missing_events_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(AarInputError, match=re.escape(str(tmp_path / "events.jsonl"))):
        write_report(tmp_path)


def test_a_truncated_last_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", base_run().events)
    path = run / "events.jsonl"
    text = path.read_text()
    path.write_text(text[: len(text) - 40])  # cut inside the last line, no newline
    n = len(base_run().events)
    with pytest.raises(AarInputError, match=rf"events\.jsonl:{n}: truncated.*lines 1-{n - 1}"):
        write_report(run)


def test_a_line_that_breaks_its_contract_is_reported_with_line_and_field(tmp_path: Path) -> None:
    bad = {"stream": "ingress.events", "event": json.loads(base_run().events[0].model_dump_json())}
    bad["event"]["data"]["lat"] = 123.0
    run = write_run(tmp_path / "r", base_run().events[1:], [json.dumps(bad)])
    n = len(base_run().events)
    with pytest.raises(AarInputError, match=rf"events\.jsonl:{n}: .*node_registered.*lat"):
        write_report(run)


def test_a_line_that_is_not_json_in_the_middle_is_not_called_truncated(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", base_run().events)
    path = run / "events.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = "{oops"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AarInputError, match=r"events\.jsonl:3: not a JSON line"):
        write_report(run)


@pytest.mark.sim
async def test_the_report_builds_from_a_real_smoke_run(tmp_path: Path) -> None:
    from simulations.exercise import run_exercise

    result = await run_exercise("smoke", tmp_path, "aar-smoke")
    page_path = write_report(result.run_dir)
    page = page_path.read_text()
    assert external_references(page) == []
    lines = (result.run_dir / "events.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]  # after the recording header
    node_ids = {
        r["event"]["data"]["node_id"]
        for r in rows
        if r["event"] and r["event"]["type"] == "hinterland.transport.node_registered.v1"
    }
    drawn = re.findall(
        r'<g class="node(?: lost)?" data-node="([^"]+)"', svg_by_id(page, "map-network")
    )
    assert sorted(drawn) == sorted(node_ids)
    doc = json.loads((result.run_dir / "aar.json").read_text())
    kpis = doc["kpis"]
    assert {n["need_id"] for n in kpis["needs"]} == {r["need_id"] for r in result.report["needs"]}
    assert kpis["replans"]["plans_published"] == len(result.report["plans"])
    # What was delivered can never exceed what dispatch sent, and equals it when planned.
    for prio, sent in result.report["by_priority"].items():
        got = kpis["fill_by_priority"].get(prio, {"delivered_kg": 0})["delivered_kg"]
        if kpis["execution"]["basis"] == "planned":
            assert got == sent["dispatched_kg"], prio
        else:
            assert got <= sent["dispatched_kg"], prio
    assert any(i["kind"] == "disruption_reported" for i in kpis["injects"])
    assert kpis["transport"]["tonne_km_total"] > 0
