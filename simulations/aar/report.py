"""Reads a run folder (events.jsonl, report.json); writes report.html and aar.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contracts.catalogue import Event, parse_event
from simulations.aar.html import Expectation, ExpectationLike, render_html
from simulations.aar.kpis import DeadLetter, Kpis, RunMeta, compute_kpis
from simulations.aar.network import network_view

EVENTS_FILE = "events.jsonl"
RUN_REPORT_FILE = "report.json"
HTML_FILE = "report.html"
JSON_FILE = "aar.json"


class AarInputError(ValueError):
    """A run folder cannot be read; the message names the file and, where it applies, the line."""


@dataclass(frozen=True, slots=True)
class RunEvents:
    """What ``events.jsonl`` holds: the parsed events and the dead-letter entries beside them."""

    events: list[Event]
    dead_letters: list[DeadLetter]
    per_stream: dict[str, int] = field(default_factory=dict)


def read_events(path: Path) -> RunEvents:
    """Parse a recording: one ``{"stream": ..., "event": <envelope or null>}`` per line.

    Raises ``AarInputError`` naming the file and line for a missing file, a truncated or
    malformed line, or an event that does not match its contract. Dead-letter entries are
    kept as they are (they are dead precisely because they may not parse).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AarInputError(
            f"{path}: not found; a run folder written by `hinterland exercise run` holds it"
        ) from None
    except OSError as exc:
        raise AarInputError(f"{path}: cannot read ({exc.strerror})") from exc
    events: list[Event] = []
    dead: list[DeadLetter] = []
    per_stream: dict[str, int] = {}
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or (number == 1 and _is_header(raw)):
            continue  # blank, or the recording header (run metadata, not a bus entry)
        last = number == len(lines)  # no newline after it: the writer may have been cut off
        row = _row(path, number, raw, last)
        stream = row["stream"]
        per_stream[stream] = per_stream.get(stream, 0) + 1
        envelope = row["event"]
        if stream.endswith(".dead"):
            body = envelope if isinstance(envelope, dict) else {}
            dead.append(
                DeadLetter(
                    stream=stream,
                    event_id=_str_or_none(body.get("id")),
                    event_type=_str_or_none(body.get("type")),
                    line=number,
                )
            )
            continue
        if envelope is None:
            continue  # an entry without an ``event`` field; the services dead-letter those
        try:
            events.append(parse_event(json.dumps(envelope)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "event"
            what = envelope.get("type", "?") if isinstance(envelope, dict) else "?"
            raise AarInputError(
                f"{path}:{number}: event of type {what} does not match its contract: "
                f"{where}: {first['msg']}"
            ) from exc
    if not events:
        raise AarInputError(f"{path}: holds no events")
    return RunEvents(events, dead, dict(sorted(per_stream.items())))


def _is_header(raw: bytes) -> bool:
    try:
        head = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(head, dict) and "recording" in head and "stream" not in head


def _row(path: Path, number: int, raw: bytes, last: bool) -> dict[str, Any]:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        complete = f"lines 1-{number - 1} are complete" if number > 1 else "no line is complete"
        if last:
            raise AarInputError(
                f"{path}:{number}: truncated: the last line is not complete JSON ({exc}); "
                f"{complete}"
            ) from exc
        raise AarInputError(f"{path}:{number}: not a JSON line ({exc})") from exc
    if not isinstance(row, dict) or not isinstance(row.get("stream"), str) or "event" not in row:
        raise AarInputError(
            f'{path}:{number}: expected {{"stream": <name>, "event": <envelope or null>}}'
        )
    return row


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _run_report(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The exercise runner's ``report.json`` if present (optional: only metadata comes from it)."""
    path = run_dir / RUN_REPORT_FILE
    if not path.exists():
        return {}, []
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, [f"{path}: ignored, unreadable ({exc})"]
    if not isinstance(report, dict):
        return {}, [f"{path}: ignored, not a JSON object"]
    return report, []


def _expectations_from(report: dict[str, Any], path: Path) -> list[Expectation]:
    rows = report.get("expectations")
    if not isinstance(rows, list):
        return []
    out: list[Expectation] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise AarInputError(f"{path}: expectations[{i}] is not an object")
        try:
            out.append(Expectation.from_dict(row))
        except (KeyError, TypeError, ValueError) as exc:
            raise AarInputError(f"{path}: expectations[{i}]: {exc}") from exc
    return out


def build(
    run_dir: Path,
    expectations: Sequence[ExpectationLike] | None = None,
    meta: RunMeta | None = None,
) -> tuple[Kpis, str, dict[str, Any]]:
    """KPIs, the HTML page and the JSON document for a run folder, without writing anything."""
    recorded = read_events(run_dir / EVENTS_FILE)
    report, warnings = _run_report(run_dir)
    if meta is None:
        wall = report.get("wall_time_s")
        meta = RunMeta(
            run_id=run_dir.name,
            scenario=str(report.get("scenario", "")),
            title=str(report.get("title", "")),
            wall_time_s=float(wall) if isinstance(wall, int | float) else None,
        )
    if expectations is None:
        expectations = _expectations_from(report, run_dir / RUN_REPORT_FILE)
    checks = [Expectation.of(x) for x in expectations]
    kpis = compute_kpis(recorded.events, meta, recorded.dead_letters)
    network = network_view(recorded.events)
    page = render_html(kpis, network, checks, warnings)
    doc = {
        "kpis": kpis.to_json(),
        "expectations": [x.to_json() for x in checks],
        "events_per_stream": recorded.per_stream,
        "warnings": warnings,
    }
    return kpis, page, doc


def write_report(
    run_dir: Path,
    expectations: Sequence[ExpectationLike] | None = None,
    *,
    meta: RunMeta | None = None,
) -> Path:
    """Write ``run_dir/report.html`` and ``run_dir/aar.json``; return the HTML file's path.

    Parameters
    ----------
    run_dir
        A folder written by ``hinterland exercise run`` (``events.jsonl``; ``report.json``
        optional, for the scenario name, title, wall time and any ``expectations``).
    expectations
        Checked expected outcomes (anything with ``id``, ``description``, ``expected``,
        ``actual``, ``met``; an optional ``inject`` naming the inject's event id or subject
        puts it on that inject's row). None: take them from ``report.json`` if it has some.
    meta
        Overrides what is read from ``report.json`` (e.g. the scenario's start and end).
    """
    _, page, doc = build(run_dir, expectations, meta)
    html_path = run_dir / HTML_FILE
    html_path.write_text(page, encoding="utf-8")
    (run_dir / JSON_FILE).write_text(
        json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return html_path
