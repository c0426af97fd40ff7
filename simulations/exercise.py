"""The exercise runner: play a scenario embedded, then write JSON and Markdown reports."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.catalogue import parse_event
from contracts.dispatch import DispatchOrderIssuedV1, PlanPublishedV1
from contracts.incidents import NeedRaisedV1
from simulations.execution import Fleet
from simulations.harness import Breakdown, play, running_world
from simulations.scenario import Scenario, TimedEvent, load_scenario

PRIORITIES = ("life_saving", "sustaining", "routine")


@dataclass(frozen=True, slots=True)
class ExerciseResult:
    run_dir: Path
    report: dict[str, Any]


def _summarise(scenario: Scenario, recorded: dict[str, list[tuple[str, bytes]]]) -> dict[str, Any]:
    events = [
        parse_event(raw)
        for name in recorded
        if not name.endswith(".dead")
        for _, raw in recorded[name]
    ]
    needs: dict[str, Any] = {}
    plans: list[PlanPublishedV1] = []
    committed: dict[str, int] = defaultdict(int)
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
        elif isinstance(e, PlanPublishedV1):
            plans.append(e)
        elif isinstance(e, DispatchOrderIssuedV1):
            order = e.data
            for s in order.stops:
                if s.action == "unload" and s.need_id:
                    committed[s.need_id] += s.quantity_kg
                    eta = s.eta.isoformat()
                    first_eta[s.need_id] = min(first_eta.get(s.need_id, eta), eta)
    plans.sort(key=lambda p: p.data.version)
    last_reason: dict[str, tuple[str | None, str]] = {}
    for p in plans:
        for outcome in p.data.needs:
            last_reason[outcome.need_id] = (outcome.reason, outcome.detail)
    rows = []
    for need_id in sorted(needs):
        n = needs[need_id]
        served = min(committed[need_id], n["requested_kg"])
        status = "served" if served >= n["requested_kg"] else "partial" if served else "unserved"
        reason, detail = last_reason.get(need_id, (None, ""))
        rows.append(
            {
                **n,
                "dispatched_kg": served,
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
        }
        for p in PRIORITIES
    }
    dead = {name: len(v) for name, v in recorded.items() if name.endswith(".dead") and v}
    return {
        "scenario": scenario.name,
        "title": scenario.spec.title,
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
                "solve_time_ms": p.data.solve_time_ms,
                "plan_hash": p.data.plan_hash,
            }
            for p in plans
        ],
        "by_priority": by_priority,
        "unserved_reasons": dict(Counter(r["reason"] for r in rows if r["status"] != "served")),
        "needs": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# After-action summary: {report['title'] or report['scenario']}", ""]
    lines += [
        "## Plans",
        "",
        "| v | time | needs | vehicles | fill | solve ms | hash |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in report["plans"]:
        lines.append(
            f"| {p['version']} | {p['time']} | {p['needs_planned']} | {p['vehicles_used']} "
            f"| {p['fill_rate']:.0%} | {p['solve_time_ms']} | `{p['plan_hash'][:12]}` |"
        )
    lines += [
        "",
        "## Delivered by priority",
        "",
        "| priority | requested t | dispatched t | share |",
        "|---|---|---|---|",
    ]
    for prio, v in report["by_priority"].items():
        share = v["dispatched_kg"] / v["requested_kg"] if v["requested_kg"] else 1.0
        lines.append(
            f"| {prio} | {v['requested_kg'] / 1000:.1f} | {v['dispatched_kg'] / 1000:.1f} "
            f"| {share:.0%} |"
        )
    lines += [
        "",
        "## Needs not fully served",
        "",
        "| need | priority | node | commodity | requested t | dispatched t | reason | detail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["needs"]:
        if r["status"] != "served":
            lines.append(
                f"| {r['need_id']} | {r['priority']} | {r['node_id']} | {r['commodity']} "
                f"| {r['requested_kg'] / 1000:.1f} | {r['dispatched_kg'] / 1000:.1f} "
                f"| {r['reason']} | {r['detail']} |"
            )
    lines += [
        "",
        f"Events on the bus: {report['events_on_bus']}; dead letters: "
        f"{report['dead_letters'] or 'none'}.",
        "",
    ]
    return "\n".join(lines)


async def run_exercise(
    name_or_path: str | Path,
    out_root: Path = Path("out"),
    run_id: str | None = None,
    progress: Callable[[int, int, TimedEvent], None] = lambda *_: None,
) -> ExerciseResult:
    scenario = load_scenario(name_or_path)
    run_id = run_id or f"{scenario.name}-seed{scenario.spec.seed}"
    run_dir = out_root / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    db_file = run_dir / "hinterland.sqlite"
    for leftover in run_dir.glob("hinterland.sqlite*"):
        leftover.unlink()
    events = scenario.events(run_id)
    fleet = Fleet(
        scenario.start, run_id, classification={a.asset_id: c for a, c in scenario.assets}
    )
    breakdowns = [
        Breakdown(b.at, b.asset_id, b.repair_h) for b in getattr(scenario, "breakdowns", ())
    ]
    started = time.perf_counter()
    async with running_world(
        redis_url=f"memory://{run_id}-{uuid.uuid4().hex[:8]}",
        database_url=f"sqlite+aiosqlite:///{db_file}",
    ) as world:
        await play(world, events, progress, fleet=fleet, breakdowns=breakdowns, end=scenario.end)
        recorded = await world.recorded()
    report = _summarise(scenario, recorded)
    report["wall_time_s"] = round(time.perf_counter() - started, 2)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    (run_dir / "report.md").write_text(markdown(report))
    with (run_dir / "events.jsonl").open("w") as f:
        for name in sorted(recorded):
            for _, raw in recorded[name]:
                f.write(
                    json.dumps(
                        {"stream": name, "event": json.loads(raw) if raw else None}, sort_keys=True
                    )
                    + "\n"
                )
    return ExerciseResult(run_dir, report)
