"""Replay a recording through the pipeline, as it was or with a changed policy or inputs.

What is replayed is what came from outside: the recorded ingress events except the vehicles'
own reports, which the simulator produces again for whatever the replayed plans order (so a
changed policy gets its own execution). The simulator's breakdown injects come from the
recording's header. Unchanged, a replay reproduces every plan: the comparison is by plan hash.

A patch (YAML) changes the replay::

    policy: {solution_limit: 100}              # dispatch settings
    changes:
      - drop: {subject: DIS-G85-BRIDGE}        # leave out matching events
      - shift: {subject: L-road-chengdu-yaan, type: link_status_changed}
        by_h: -12                              # move matching events in time
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import streams
from contracts.catalogue import Event
from contracts.transport import AssetRegisteredV1
from simulations.aar import AarInputError, compute_kpis, read_events
from simulations.execution import SOURCE as TELEMATICS
from simulations.exercise import ExerciseResult, Timeline, check_policy, run_timeline
from simulations.recording import Recording, RecordingError, plan_hashes, read_recording
from simulations.scenario import TimedEvent


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Model):
    subject: str | None = None
    type: str | None = Field(None, description="Full type or its short name (need_raised).")
    id: str | None = None

    def __call__(self, event: Event) -> bool:
        if self.subject is not None and event.subject != self.subject:
            return False
        if self.id is not None and event.id != self.id:
            return False
        return self.type is None or self.type in (event.type, event.type.split(".")[-2])


class Drop(_Model):
    drop: Match


class Shift(_Model):
    shift: Match
    by_h: float


class Patch(_Model):
    policy: dict[str, Any] = Field(default_factory=dict)
    changes: list[Drop | Shift] = Field(default_factory=list)


def load_patch(path: Path) -> Patch:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        patch = Patch.model_validate(raw)
        check_policy(patch.policy)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the patch ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise RecordingError(f"{path}: invalid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RecordingError(f"{path}: {where}: {first['msg']}") from exc
    except ValueError as exc:
        raise RecordingError(f"{path}: policy: {exc}") from exc
    return patch


def timeline_from(recording: Recording, patch: Patch | None = None) -> Timeline:
    """The inputs of a recorded run, with the patch applied (if any)."""
    patch = patch or Patch()
    header = recording.header
    inputs = [e.event for e in recording.on(streams.INGRESS) if e.event.source != TELEMATICS]
    for change in patch.changes:
        if isinstance(change, Drop):
            hit = [e for e in inputs if change.drop(e)]
            inputs = [e for e in inputs if not change.drop(e)]
        else:
            hit = [e for e in inputs if change.shift(e)]
            delta = timedelta(hours=change.by_h)
            inputs = [
                e.model_copy(update={"time": e.time + delta}) if change.shift(e) else e
                for e in inputs
            ]
        if not hit:
            raise RecordingError(f"{recording.path}: patch change {change} matches no event")
    inputs.sort(key=lambda e: e.time)  # stable: one instant keeps its recorded order
    return Timeline(
        run_id=header.run_id,
        scenario=header.scenario,
        title=f"replay of {header.run_id}",
        start=header.start,
        end=header.end,
        events=[TimedEvent(at=e.time, stream=streams.INGRESS, event=e) for e in inputs],
        breakdowns=list(header.breakdowns),
        classification={
            e.data.asset_id: e.classification for e in inputs if isinstance(e, AssetRegisteredV1)
        },
        policy={**header.policy, **check_policy(patch.policy)},
        mode="exercise" if header.mode == "exercise" else "live",
    )


@dataclass(frozen=True, slots=True)
class ReplayResult:
    result: ExerciseResult
    recorded: list[tuple[int, str]]
    replayed: list[tuple[int, str]]
    stopped: str | None
    kpis: list[tuple[str, float | None, float | None]]

    @property
    def identical(self) -> bool:
        return self.recorded == self.replayed


def _median_first_delivery(k: dict[str, Any]) -> Any:
    return k["first_delivery"]["hours_after_raised"]["median"]


KPI_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("fill", lambda k: k["fill"]["fill"]),
    ("fill life_saving", lambda k: k["fill_by_priority"]["life_saving"]["fill"]),
    ("fill sustaining", lambda k: k["fill_by_priority"]["sustaining"]["fill"]),
    ("fill routine", lambda k: k["fill_by_priority"]["routine"]["fill"]),
    ("unmet t", lambda k: k["unmet"]["total_short_kg"] / 1000),
    ("first delivery h", lambda k: k["first_delivery"]["first_delivery_h_from_start"]),
    ("first delivery after raised, median h", _median_first_delivery),
    ("on-time share", lambda k: k["lateness"]["on_time_share_kg"]),
    ("tonne-km", lambda k: k["transport"]["tonne_km_total"]),
    ("vehicles used", lambda k: k["vehicles"]["used"]),
    ("re-plans", lambda k: k["replans"]["replans"]),
)


def kpi_values(recording: Path) -> dict[str, float | None]:
    """The headline KPIs of a recorded run."""
    kpis = compute_kpis(read_events(recording).events).to_json()
    out: dict[str, float | None] = {}
    for name, get in KPI_ROWS:
        try:
            value = get(kpis)
        except (KeyError, TypeError):
            value = None
        out[name] = float(value) if isinstance(value, int | float) else None
    return out


async def replay(
    path: Path,
    out_root: Path,
    patch: Patch | None = None,
    label: str = "replay",
    progress: Callable[[int, int, TimedEvent], None] = lambda *_: None,
) -> ReplayResult:
    recording = read_recording(path)
    timeline = timeline_from(recording, patch)
    result = await run_timeline(timeline, out_root / f"{timeline.run_id}-{label}", progress)
    replayed = read_recording(result.run_dir / "events.jsonl")
    try:
        before = kpi_values(path)
    except AarInputError:  # a truncated recording: no KPIs of the original to compare with
        before = {}
    after = kpi_values(result.run_dir / "events.jsonl")
    return ReplayResult(
        result=result,
        recorded=plan_hashes(recording.entries),
        replayed=plan_hashes(replayed.entries),
        stopped=recording.stopped,
        kpis=[(name, before.get(name), after.get(name)) for name in after],
    )


def diff_table(rows: Sequence[tuple[str, float | None, float | None]]) -> list[list[str]]:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:,.4g}"

    out = []
    for name, a, b in rows:
        change = "" if a is None or b is None or a == b else f"{b - a:+,.4g}"
        out.append([name, fmt(a), fmt(b), change])
    return out
