"""The one table ``python -m simulations.reliability`` prints (Markdown, pasted in the docs)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

from simulations.reliability.faults import KINDS
from simulations.reliability.load import LoadResult
from simulations.reliability.runner import RunResult


def lost_count(run: RunResult) -> int:
    """Events that never took effect: ledger losses plus dead-lettered events we published."""
    return run.lost


def _seconds(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s (n={len(values)})"


def render_table(
    runs: Sequence[RunResult], load: LoadResult | None, reclaim_idle_ms: int, events: int
) -> str:
    rows: list[tuple[str, str]] = []
    if runs:
        failing = [r.seed for r in runs if not r.ok]
        seeds = f"{runs[0].seed}–{runs[-1].seed}" if len(runs) > 1 else str(runs[0].seed)
        rows.append(
            (
                "fault runs",
                f"{len(runs)} (seeds {seeds}), {len(runs) - len(failing)} clean"
                + (f"; failing seeds: {', '.join(map(str, failing))}" if failing else ""),
            )
        )
        kinds: Counter[str] = Counter()
        for r in runs:
            kinds.update(f.fault.label for f in r.faults)
        rows.append(("faults injected", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))))
        total = sum(r.events for r in runs)
        rows.append(
            (
                "events published",
                f"{total:,} ({events:,} load events per run, plus the world and the vehicles' "
                "progress reports)",
            )
        )
        rows.append(("lost (never took effect)", str(sum(lost_count(r) for r in runs))))
        rows.append(("applied twice", str(sum(r.report.applied_twice for r in runs))))
        rules: Counter[str] = Counter()
        for r in runs:
            rules.update(
                v.rule for v in r.report.violations if v.rule not in ("lost", "applied_twice")
            )
            rules.update("crash" for _ in r.crashes)
            if r.settle_s is None:
                rules["did not settle"] += 1
        rows.append(
            (
                "invariant violations",
                f"{sum(rules.values())}"
                + (f" ({', '.join(f'{k} {n}' for k, n in rules.most_common())})" if rules else ""),
            )
        )
        rows.append(("dead letters", str(sum(len(r.report.dead_letters) for r in runs))))
        limit = 2 * reclaim_idle_ms / 1000
        for kind in KINDS:
            times = [
                f.recovery_s
                for r in runs
                for f in r.faults
                if f.fault.kind == kind and f.recovery_s is not None
            ]
            stuck = sum(
                1 for r in runs for f in r.faults if f.fault.kind == kind and f.recovery_s is None
            )
            label = f"recovery after {kind.replace('_', ' ')}"
            value = _seconds(times) + (f", {stuck} never recovered" if stuck else "")
            if kind == "kill" and times:
                within = sum(1 for t in times if t <= limit)
                value += f"; {within}/{len(times)} within 2× reclaim idle ({limit:.0f} s)"
            rows.append((label, value))
    if load is not None:
        rows.append(
            (
                "raw Redis (same server, same run)",
                f"XADD {load.raw_xadd_per_s:,.0f} /s, "
                f"XREADGROUP+XACK {load.raw_read_per_s:,.0f} /s",
            )
        )
        rows.append(
            (
                "sustained throughput per service",
                ", ".join(
                    f"{s} {v:,.0f} /s ({load.share_of_raw(s):.1%} of raw)"
                    for s, v in load.sustained.items()
                )
                + f"; whole system kept up to {load.system_rate:,.0f} ingress events/s "
                f"(load average {load.load_average[0]:.1f} on 2 cores)",
            )
        )
        rows.append(
            (
                "one service alone (reserves, stock reports)",
                f"{load.alone_per_s:,.0f} /s ({load.alone_per_s / load.raw_read_per_s:.1%} of raw "
                "XREADGROUP+XACK; target ≥ 30 %)",
            )
        )
        for lat in load.latencies:
            p50, p95, p99 = (lat.pct(q) for q in (0.5, 0.95, 0.99))
            value = (
                "no sample"
                if p50 is None
                else f"p50 {p50:.2f} s, p95 {p95:.2f} s, p99 {p99:.2f} s "
                f"(n={len(lat.samples)}"
                + (f", {lat.missing} without a plan" if lat.missing else "")
                + ")"
            )
            rows.append(
                (f"disruption → plan at {lat.load_share:.0%} load ({lat.rate:,.0f} /s)", value)
            )
    width = max(len(k) for k, _ in rows) if rows else 10
    out = [f"| {'figure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    out += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(out)
