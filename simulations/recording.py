"""Recordings: every event of a run as JSON Lines, and reading them back for replay.

The first line is a header (``{"recording": 1, ...}``: run id, scenario, mode, start, end, the
simulator's breakdown injects, the policy); every other line is one bus entry as published:
``{"stream": ..., "id": <entry id>, "event": <envelope>}``. Streams are written one after the
other, each in its own order. A live run can be recorded the same way (``record_streams``);
the header then has no breakdowns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from contracts import streams
from contracts.catalogue import BY_TYPE, Event, parse_event

FORMAT: Final = 1
"""Version of the recording layout (not of the contracts: each event carries its own type)."""


class RecordingError(ValueError):
    """A recording cannot be replayed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A vehicle failing at ``at`` (the simulator's inject); back in service after repair_h."""

    at: datetime
    asset_id: str
    repair_h: float | None = None


@dataclass(frozen=True, slots=True)
class Header:
    run_id: str
    scenario: str
    mode: str
    start: datetime
    end: datetime | None
    breakdowns: tuple[Breakdown, ...] = ()
    policy: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "recording": FORMAT,
            "run_id": self.run_id,
            "scenario": self.scenario,
            "mode": self.mode,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "breakdowns": [
                {"at": b.at.isoformat(), "asset_id": b.asset_id, "repair_h": b.repair_h}
                for b in self.breakdowns
            ],
            "policy": dict(self.policy),
        }


@dataclass(frozen=True, slots=True)
class Entry:
    stream: str
    entry_id: str
    event: Event
    line: int


@dataclass(frozen=True, slots=True)
class Recording:
    path: Path
    header: Header
    entries: tuple[Entry, ...]
    stopped: str | None = None
    """Why reading stopped before the end of the file (a truncated last line), if it did."""

    def on(self, stream: str) -> list[Entry]:
        return [e for e in self.entries if e.stream == stream]


def write_recording(
    path: Path, header: Header, entries: Mapping[str, Sequence[tuple[str, bytes]]]
) -> None:
    """Write the header, then every stream's entries in order (dead letters included)."""
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header.to_json(), sort_keys=True) + "\n")
        for name in sorted(entries, key=_stream_order):
            for entry_id, raw in entries[name]:
                event = json.loads(raw) if raw else None
                row = {"stream": name, "id": entry_id, "event": event}
                f.write(json.dumps(row, sort_keys=True) + "\n")


def _stream_order(name: str) -> tuple[int, str]:
    base = name.removesuffix(".dead")
    rank = streams.ALL.index(base) if base in streams.ALL else len(streams.ALL)
    return (rank, name)


def read_recording(path: Path) -> Recording:
    """Read and check a recording; a truncated last line ends it with ``stopped`` saying where."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the recording ({exc.strerror})") from exc
    if not lines or not lines[0].strip():
        raise RecordingError(f"{path}:1: empty file, expected a recording header")
    header = _header(path, lines[0])
    entries: list[Entry] = []
    stopped: str | None = None
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if number == len(lines):  # no newline after it: the writer was cut off mid-line
                where = f"after line {number - 1}" if entries else "before the first event"
                stopped = (
                    f"{path}:{number}: truncated line; replayed up to the last complete event "
                    f"({where})"
                )
                break
            raise RecordingError(f"{path}:{number}: not a JSON line ({exc})") from exc
        if not isinstance(row, dict) or "stream" not in row:
            raise RecordingError(f"{path}:{number}: expected an object with stream and event")
        stream = str(row["stream"])
        if stream.endswith(".dead") or row.get("event") is None:
            continue  # dead letters are kept in the file for the report, never replayed
        entries.append(_entry(path, number, stream, str(row.get("id", "")), row["event"]))
    return Recording(path, header, tuple(entries), stopped)


def _header(path: Path, raw: bytes) -> Header:
    try:
        head = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}:1: the header is not JSON ({exc})") from exc
    if not isinstance(head, dict) or "recording" not in head:
        raise RecordingError(
            f"{path}:1: no recording header; record a run with `hinterland exercise run`"
        )
    version = head["recording"]
    if not isinstance(version, int) or version > FORMAT:
        raise RecordingError(
            f"{path}:1: recording format {version!r} is newer than this Hinterland reads "
            f"({FORMAT}); upgrade Hinterland to replay it"
        )
    try:
        return Header(
            run_id=str(head["run_id"]),
            scenario=str(head.get("scenario", "")),
            mode=str(head.get("mode", "exercise")),
            start=datetime.fromisoformat(head["start"]),
            end=datetime.fromisoformat(head["end"]) if head.get("end") else None,
            breakdowns=tuple(
                Breakdown(datetime.fromisoformat(b["at"]), b["asset_id"], b.get("repair_h"))
                for b in head.get("breakdowns", [])
            ),
            policy=dict(head.get("policy") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"{path}:1: header field missing or invalid: {exc}") from exc


def _entry(path: Path, number: int, stream: str, entry_id: str, body: Any) -> Entry:
    kind = body.get("type") if isinstance(body, dict) else None
    if isinstance(kind, str) and kind not in BY_TYPE:
        known = sorted(t for t in BY_TYPE if t.rsplit(".", 1)[0] == kind.rsplit(".", 1)[0])
        newer = f"; this Hinterland knows {', '.join(known)}" if known else ""
        raise RecordingError(
            f"{path}:{number}: event type {kind!r} is not in this Hinterland's contracts "
            f"(recorded with a newer contract version?){newer}"
        )
    try:
        event = parse_event(json.dumps(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise RecordingError(
            f"{path}:{number}: {kind or 'event'} does not match its contract: {where}: "
            f"{first['msg']}"
        ) from exc
    return Entry(stream, entry_id, event, number)


def plan_hashes(entries: Iterable[Entry]) -> list[tuple[int, str]]:
    """(version, plan hash) of every plan in a recording (v1 or v2), in version order."""
    from contracts.dispatch import PlanPublishedEvent

    plans = [
        (e.event.data.version, e.event.data.plan_hash)
        for e in entries
        if isinstance(e.event, PlanPublishedEvent)
    ]
    return sorted(plans)
