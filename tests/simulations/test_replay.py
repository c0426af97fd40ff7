"""Record and replay: the same plans from a recording, changes diffed, bad recordings named."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from simulations.exercise import ExerciseResult, run_exercise
from simulations.recording import RecordingError, plan_hashes, read_recording
from simulations.replay import Drop, Match, Patch, Shift, load_patch, replay

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> ExerciseResult:
    return asyncio.run(run_exercise("smoke", tmp_path_factory.mktemp("smoke"), "replay-smoke"))


def recording_lines(run: ExerciseResult) -> list[str]:
    return (run.run_dir / "events.jsonl").read_text().splitlines()


async def test_an_unchanged_replay_reproduces_every_plan(
    smoke_run: ExerciseResult, tmp_path: Path
) -> None:
    out = await replay(smoke_run.run_dir / "events.jsonl", tmp_path)
    assert out.recorded, "the smoke run published plans"
    assert out.identical
    assert out.stopped is None
    assert all(before == after for _, before, after in out.kpis)


async def test_a_patched_replay_diffs_its_outcome_against_the_recording(
    smoke_run: ExerciseResult, tmp_path: Path
) -> None:
    # Without the life-saving medical need for Ya'an the plans and the KPIs must change.
    patch = Patch(changes=[Drop(drop=Match(subject="NEED-YAAN-MED"))])
    out = await replay(smoke_run.run_dir / "events.jsonl", tmp_path, patch, "no-med")
    assert not out.identical
    kpis = {name: (before, after) for name, before, after in out.kpis}
    assert kpis["tonne-km"][0] != kpis["tonne-km"][1]
    needs = {n["need_id"] for n in out.result.report["needs"]}
    assert "NEED-YAAN-MED" not in needs


def as_v1_recording(run: ExerciseResult, path: Path) -> Path:
    """The run as recorded before dispatch published ``plan_published.v2``."""
    lines = recording_lines(run)
    rows = [json.loads(line) for line in lines[1:]]
    for row in rows:
        event = row["event"]
        if event and event["type"] == "hinterland.dispatch.plan_published.v2":
            event["type"] = "hinterland.dispatch.plan_published.v1"
            del event["data"]["kpis"]["weighted_bound_kg"]
            del event["data"]["kpis"]["served_fraction_of_bound"]
    path.write_text("\n".join([lines[0], *(json.dumps(r) for r in rows)]) + "\n")
    return path


async def test_a_recording_of_v1_plans_still_reads_and_replays_to_the_same_plans(
    smoke_run: ExerciseResult, tmp_path: Path
) -> None:
    old = as_v1_recording(smoke_run, tmp_path / "v1.jsonl")
    assert '"hinterland.dispatch.plan_published.v1"' in old.read_text()
    assert plan_hashes(read_recording(old).entries) == plan_hashes(
        read_recording(smoke_run.run_dir / "events.jsonl").entries
    )
    out = await replay(old, tmp_path / "out")
    assert out.recorded, "the smoke run published plans"
    assert out.identical  # the v2 replay's plan hashes equal the v1 recording's
    assert all(before == after for _, before, after in out.kpis)


def test_a_patch_file_is_validated_with_the_field_named(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "policy: {solution_limit: 20}\nchanges:\n  - shift: {subject: DIS-G5-CUT}\n    by_h: -0.5\n"
    )
    patch = load_patch(good)
    assert patch.policy == {"solution_limit": 20}
    assert isinstance(patch.changes[0], Shift)
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: {solution_limt: 20}\n")
    with pytest.raises(RecordingError, match="unknown policy setting 'solution_limt'"):
        load_patch(bad)


async def test_a_patch_that_matches_nothing_is_refused(
    smoke_run: ExerciseResult, tmp_path: Path
) -> None:
    patch = Patch(changes=[Drop(drop=Match(subject="NO-SUCH-THING"))])
    with pytest.raises(RecordingError, match="matches no event"):
        await replay(smoke_run.run_dir / "events.jsonl", tmp_path, patch)


async def test_a_truncated_recording_replays_up_to_its_last_complete_event(
    smoke_run: ExerciseResult, tmp_path: Path
) -> None:
    lines = recording_lines(smoke_run)
    ingress = [i for i, line in enumerate(lines) if '"stream": "ingress.events"' in line]
    cut = ingress[len(ingress) // 2]
    path = tmp_path / "truncated.jsonl"
    path.write_text("\n".join(lines[:cut]) + "\n" + lines[cut][: len(lines[cut]) // 2])
    recording = read_recording(path)
    assert recording.stopped is not None
    assert f"{path}:{cut + 1}: truncated line" in recording.stopped
    assert f"after line {cut}" in recording.stopped
    assert len(recording.entries) == cut - 1
    out = await replay(path, tmp_path / "out")
    assert out.stopped == recording.stopped


def test_a_recording_from_a_newer_format_or_contract_is_refused_with_file_and_line(
    smoke_run: ExerciseResult, tmp_path: Path
) -> None:
    lines = recording_lines(smoke_run)
    header = json.loads(lines[0])
    newer = tmp_path / "newer.jsonl"
    newer.write_text("\n".join([json.dumps({**header, "recording": 99}), *lines[1:]]) + "\n")
    with pytest.raises(RecordingError, match=r"newer.jsonl:1: recording format 99 is newer"):
        read_recording(newer)

    row = json.loads(lines[5])
    row["event"]["type"] = row["event"]["type"].replace(".v1", ".v7")
    future = tmp_path / "future.jsonl"
    future.write_text("\n".join([*lines[:5], json.dumps(row), *lines[6:]]) + "\n")
    with pytest.raises(RecordingError, match=r"future.jsonl:6: event type .*v7.* newer contract"):
        read_recording(future)


def test_a_file_without_a_header_is_not_taken_for_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text('{"stream": "ingress.events", "event": null}\n')
    with pytest.raises(RecordingError, match=r"plain\.jsonl:1: no recording header"):
        read_recording(path)
