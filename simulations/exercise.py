"""The exercise runner: play a scenario embedded, then write JSON and Markdown reports."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from contracts.catalogue import Event, parse_event
from contracts.common import to_kg
from contracts.dispatch import DispatchOrderIssuedV1, PlanPublishedEvent, share_of_bound
from contracts.envelope import Classification, Mode
from contracts.execution import OrderProgressReportedV1
from contracts.incidents import NeedRaisedV1
from contracts.transport import NodeRegisteredV1
from services.dispatch.settings import DispatchSettings
from simulations.clock import Clock, ExerciseStopped
from simulations.execution import Fleet
from simulations.expectations import Delivery, Expectation, NeedOutcome, evaluate
from simulations.harness import play, remote_world, running_world
from simulations.recording import Breakdown, Header, write_recording
from simulations.scenario import Scenario, TimedEvent, load_scenario

PRIORITIES = ("life_saving", "sustaining", "routine")


@dataclass(frozen=True, slots=True)
class ExerciseResult:
    run_dir: Path
    report: dict[str, Any]


def _summarise(
    scenario: str,
    title: str,
    recorded: Mapping[str, Sequence[tuple[str, bytes]]],
    events: Sequence[Event],
) -> dict[str, Any]:
    needs: dict[str, Any] = {}
    plans: list[PlanPublishedEvent] = []
    committed: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    stranded: dict[str, str] = {}
    first_eta: dict[str, str] = {}
    for e in events:
        if isinstance(e, NeedRaisedV1):
            n = e.data
            needs[n.need_id] = {
                "need_id": n.need_id,
                "node_id": n.node_id,
                "commodity": n.commodity,
                "requested_kg": round(n.quantity * (1000 if n.unit == "t" else 1)),
                "priority": n.priority,
                "deadline": n.deadline.isoformat(),
            }
        elif isinstance(e, PlanPublishedEvent):
            plans.append(e)
        elif isinstance(e, DispatchOrderIssuedV1):
            order = e.data
            for s in order.stops:
                if s.action == "unload" and s.need_id:
                    committed[s.need_id] += s.quantity_kg
                    eta = s.eta.isoformat()
                    first_eta[s.need_id] = min(first_eta.get(s.need_id, eta), eta)
        elif isinstance(e, OrderProgressReportedV1):
            move = e.data
            for c in move.cargo:
                if move.stage == "unloaded":
                    delivered[c.need_id] += c.quantity_kg
                elif move.stage == "broken_down":
                    stranded[c.need_id] = (
                        f"{c.quantity_kg / 1000:g} t aboard {move.vehicle_id}, "
                        f"broken down at {move.node_id}"
                    )
    executed = any(isinstance(e, OrderProgressReportedV1) for e in events)
    plans.sort(key=lambda p: p.data.version)
    last_reason: dict[str, tuple[str | None, str]] = {}
    for p in plans:
        for outcome in p.data.needs:
            last_reason[outcome.need_id] = (outcome.reason, outcome.detail)
    rows = []
    for need_id in sorted(needs):
        n = needs[need_id]
        sent = min(committed[need_id], n["requested_kg"])
        # With vehicles executing, served means handed over, not just ordered.
        served = min(delivered[need_id], n["requested_kg"]) if executed else sent
        status = "served" if served >= n["requested_kg"] else "partial" if served else "unserved"
        reason, detail = last_reason.get(need_id, (None, ""))
        if executed and status != "served" and need_id in stranded:
            replan = f"; re-plan: {reason}: {detail}" if reason else ""
            reason, detail = "vehicle_broke_down", stranded[need_id] + replan
        elif executed and status != "served" and sent >= n["requested_kg"]:
            reason, detail = "not_delivered_by_end", "dispatched, still on the way at the end"
        rows.append(
            {
                **n,
                "dispatched_kg": sent,
                "delivered_kg": served if executed else None,
                "status": status,
                "first_eta": first_eta.get(need_id),
                "reason": None if status == "served" else reason,
                "detail": "" if status == "served" else detail,
            }
        )
    by_priority = {
        p: {
            "requested_kg": sum(r["requested_kg"] for r in rows if r["priority"] == p),
            "dispatched_kg": sum(r["dispatched_kg"] for r in rows if r["priority"] == p),
            "delivered_kg": sum(r["delivered_kg"] or 0 for r in rows if r["priority"] == p),
        }
        for p in PRIORITIES
    }
    dead = {name: len(v) for name, v in recorded.items() if name.endswith(".dead") and v}
    return {
        "scenario": scenario,
        "title": title,
        "events_on_bus": {
            name: len(v) for name, v in recorded.items() if not name.endswith(".dead")
        },
        "dead_letters": dead,
        "plans": [
            {
                "plan_id": p.data.plan_id,
                "version": p.data.version,
                "time": p.time.isoformat(),
                "needs_planned": len(p.data.needs),
                "vehicles_used": p.data.kpis.vehicles_used,
                "fill_rate": round(p.data.kpis.fill_rate, 4),
                "served_fraction_of_bound": _rounded(share_of_bound(p.data.kpis)),
                "solve_time_ms": p.data.solve_time_ms,
                "plan_hash": p.data.plan_hash,
            }
            for p in plans
        ],
        "by_priority": by_priority,
        "unserved_reasons": dict(Counter(r["reason"] for r in rows if r["status"] != "served")),
        "needs": rows,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# After-action summary: {report['title'] or report['scenario']}", ""]
    lines += [
        "## Plans",
        "",
        "| v | time | needs | vehicles | fill | of limit | solve ms | hash |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in report["plans"]:
        of_bound = p.get("served_fraction_of_bound")
        lines.append(
            f"| {p['version']} | {p['time']} | {p['needs_planned']} | {p['vehicles_used']} "
            f"| {p['fill_rate']:.0%} | {'–' if of_bound is None else f'{of_bound:.0%}'} "
            f"| {p['solve_time_ms']} | `{p['plan_hash'][:12]}` |"
        )
    lines += [
        "",
        "## Delivered by priority",
        "",
        "| priority | requested t | dispatched t | delivered t | delivered share |",
        "|---|---|---|---|---|",
    ]
    for prio, v in report["by_priority"].items():
        got = v.get("delivered_kg", 0)
        share = got / v["requested_kg"] if v["requested_kg"] else 1.0
        lines.append(
            f"| {prio} | {v['requested_kg'] / 1000:.1f} | {v['dispatched_kg'] / 1000:.1f} "
            f"| {got / 1000:.1f} | {share:.0%} |"
        )
    lines += [
        "",
        "## Needs not fully served",
        "",
        "| need | priority | node | commodity | requested t | dispatched t | delivered t "
        "| reason | detail |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["needs"]:
        if r["status"] != "served":
            got = "-" if r.get("delivered_kg") is None else f"{r['delivered_kg'] / 1000:.1f}"
            lines.append(
                f"| {r['need_id']} | {r['priority']} | {r['node_id']} | {r['commodity']} "
                f"| {r['requested_kg'] / 1000:.1f} | {r['dispatched_kg'] / 1000:.1f} | {got} "
                f"| {r['reason']} | {r['detail']} |"
            )
    lines += [
        "",
        *_expectation_lines(report.get("expectations", [])),
        f"Events on the bus: {report['events_on_bus']}; dead letters: "
        f"{report['dead_letters'] or 'none'}.",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Infrastructure:
    """Where services run as processes; an exercise there needs its own namespace and schema."""

    redis_url: str
    database_url: str
    namespace: str
    db_schema: str

    def __post_init__(self) -> None:
        if not self.namespace or not self.db_schema:
            raise ValueError(
                "an exercise on live infrastructure needs its own stream namespace and database "
                "schema (HINTERLAND_NAMESPACE, HINTERLAND_DB_SCHEMA), set for the services too"
            )


@dataclass(frozen=True)
class Timeline:
    """Everything one run plays: the inputs, the simulator's injects, the policy."""

    run_id: str
    scenario: str
    title: str
    start: datetime
    end: datetime | None
    events: Sequence[TimedEvent]
    breakdowns: Sequence[Breakdown] = ()
    classification: Mapping[str, Classification] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode = "exercise"
    expectations: Sequence[Expectation] = ()


def _fresh_database(run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    for leftover in run_dir.glob("hinterland.sqlite*"):
        leftover.unlink()
    return run_dir / "hinterland.sqlite"


def _expectation_lines(judged: Sequence[dict[str, Any]]) -> list[str]:
    if not judged:
        return []
    lines = ["## Expected outcomes", "", "| id | met | expected | actual |", "|---|---|---|---|"]
    for e in judged:
        met = "met" if e["met"] else "NOT MET"
        lines.append(f"| {e['id']} | {met} | {e['expected']} | {e['actual']} |")
    return [*lines, ""]


async def run_timeline(
    timeline: Timeline,
    run_dir: Path,
    progress: Callable[[int, int, TimedEvent], None] = lambda *_: None,
    clock: Clock | None = None,
    infra: Infrastructure | None = None,
) -> ExerciseResult:
    """Play a timeline and write the recording and reports.

    Embedded (the default): on a fresh in-process bus and database. With ``infra``: against
    services already running as their own processes (their policy is their own settings).
    """
    db_file = _fresh_database(run_dir)
    fleet = Fleet(
        timeline.start,
        timeline.run_id,
        mode=timeline.mode,
        classification=dict(timeline.classification),
    )
    started = time.perf_counter()
    stopped = False
    world_context = (
        remote_world(**asdict(infra))
        if infra is not None
        else running_world(
            redis_url=f"memory://{timeline.run_id}-{uuid.uuid4().hex[:8]}",
            database_url=f"sqlite+inline:///{db_file}",
            mode=timeline.mode,
            policy=dict(timeline.policy),
        )
    )
    async with world_context as world:
        try:
            await play(
                world,
                timeline.events,
                progress,
                fleet=fleet,
                breakdowns=timeline.breakdowns,
                end=timeline.end,
                clock=clock,
            )
        except ExerciseStopped:
            stopped = True
        recorded = await world.recorded()
    events = [
        parse_event(raw)
        for name in recorded
        if not name.endswith(".dead")
        for _, raw in recorded[name]
    ]
    report = _summarise(timeline.scenario, timeline.title, recorded, events)
    report["expectations"] = [
        {
            "id": r.id,
            "description": r.description,
            "expected": r.expected,
            "actual": r.actual,
            "met": r.met,
            "inject": r.inject,
        }
        for r in evaluate(timeline.expectations, need_outcomes(events), timeline.end)
    ]
    report["run_id"] = timeline.run_id
    report["wall_time_s"] = round(time.perf_counter() - started, 2)
    report["stopped_early"] = stopped
    header = Header(
        run_id=timeline.run_id,
        scenario=timeline.scenario,
        mode=timeline.mode,
        start=timeline.start,
        end=timeline.end,
        breakdowns=tuple(timeline.breakdowns),
        policy=timeline.policy,
    )
    write_recording(run_dir / "events.jsonl", header, recorded)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    (run_dir / "report.md").write_text(markdown(report))
    return ExerciseResult(run_dir, report)


async def run_exercise(
    name_or_path: str | Path,
    out_root: Path = Path("out"),
    run_id: str | None = None,
    progress: Callable[[int, int, TimedEvent], None] = lambda *_: None,
    *,
    policy: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    scenario: Scenario | None = None,
    infra: Infrastructure | None = None,
) -> ExerciseResult:
    """Play a scenario (by name, path, or already loaded) and report under OUT/<run id>/."""
    scenario = scenario or load_scenario(name_or_path)
    run_id = run_id or f"{scenario.name}-seed{scenario.spec.seed}"
    timeline = Timeline(
        run_id=run_id,
        scenario=scenario.name,
        title=scenario.spec.title,
        start=scenario.start,
        end=scenario.end,
        events=scenario.events(run_id),
        breakdowns=[Breakdown(b.at, b.asset_id, b.repair_h) for b in scenario.breakdowns],
        classification={a.asset_id: c for a, c in scenario.assets},
        policy=check_policy(policy or {}),
        expectations=scenario.expectations,
    )
    return await run_timeline(timeline, out_root / run_id, progress, clock, infra)


def need_outcomes(events: Sequence[Event]) -> list[NeedOutcome]:
    """Every raised need with its deliveries (the vehicles' unloaded reports), for expectations."""
    regions = {e.data.node_id: e.data.region for e in events if isinstance(e, NodeRegisteredV1)}
    deliveries: dict[str, list[Delivery]] = defaultdict(list)
    for e in events:
        if isinstance(e, OrderProgressReportedV1) and e.data.stage == "unloaded":
            for cargo in e.data.cargo:
                deliveries[cargo.need_id].append(Delivery(e.time, cargo.quantity_kg))
    out: dict[str, NeedOutcome] = {}
    for e in events:
        if isinstance(e, NeedRaisedV1) and e.data.need_id not in out:
            n = e.data
            out[n.need_id] = NeedOutcome(
                need_id=n.need_id,
                node_id=n.node_id,
                region=regions.get(n.node_id, ""),
                priority=n.priority,
                commodity=n.commodity,
                requested_kg=to_kg(n.quantity, n.unit),
                raised_at=e.time,
                deadline=n.deadline,
                deliveries=tuple(deliveries[n.need_id]),
            )
    return list(out.values())


POLICY_FIELDS: Final = ("solution_limit", "time_limit_s", "first_solution", "metaheuristic")


def check_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    """Validate dispatch policy overrides (they become DispatchSettings fields)."""
    unknown = sorted(set(policy) - set(POLICY_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown policy setting {unknown[0]!r}; known: {', '.join(POLICY_FIELDS)}"
        )
    DispatchSettings(**policy)  # raises a ValidationError naming the bad field
    return dict(policy)
