"""The after-action report as one self-contained HTML page: inline CSS and SVG, nothing fetched.

No script, font, image or stylesheet comes from anywhere else, so the file opens offline and
can be mailed as it is. Expected outcomes come from the caller (simulations/expectations.py
checks them) as anything shaped like ``ExpectationLike``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Final, Protocol

from simulations.aar.kpis import Distribution, Fill, InjectRecord, Kpis
from simulations.aar.netmap import STATUS_COLOURS, focus_box, render_map
from simulations.aar.network import NetworkView
from simulations.aar.plots import MODE_COLOURS, PRIORITY_COLOURS, all_plots


class ExpectationLike(Protocol):
    """What the report needs of a checked expectation (an ``ExpectationResult`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def expected(self) -> object: ...

    @property
    def actual(self) -> object: ...

    @property
    def met(self) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class Expectation:
    """A checked expected outcome as the report shows it; ``met`` None means not judged.

    ``inject`` (optional) is the event id or subject of the inject it belongs to; the row is
    then shown with that inject, otherwise in the run-wide part of the table.
    """

    id: str
    description: str
    expected: str
    actual: str
    met: bool | None
    inject: str | None = None

    @staticmethod
    def of(x: ExpectationLike) -> Expectation:
        if isinstance(x, Expectation):
            return x
        inject = getattr(x, "inject", None)
        return Expectation(
            id=str(x.id),
            description=str(x.description),
            expected=_text(x.expected),
            actual=_text(x.actual),
            met=None if x.met is None else bool(x.met),
            inject=str(inject) if inject is not None else None,
        )

    @staticmethod
    def from_dict(row: Mapping[str, Any]) -> Expectation:
        met = row["met"]
        if met is not None and not isinstance(met, bool):
            raise ValueError(f"met must be true, false or null, not {met!r}")
        inject = row.get("inject")
        return Expectation(
            id=str(row["id"]),
            description=str(row.get("description", "")),
            expected=_text(row.get("expected", "")),
            actual=_text(row.get("actual", "")),
            met=met,
            inject=str(inject) if inject is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "expected": self.expected,
            "actual": self.actual,
            "met": self.met,
            "inject": self.inject,
        }


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


CSS: Final = """
:root { --ink: #1c2833; --muted: #5d6d7e; --line: #d5d8dc; --bg: #fbfcfc; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; color: var(--ink); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.sub { color: var(--muted); margin: 0 0 12px; }
.basis { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 600; }
.basis.planned { background: #fdebd0; color: #9c640c; }
.basis.executed { background: #d5f5e3; color: #1e8449; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
  gap: 10px; margin: 16px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .v { font-size: 22px; font-weight: 650; }
.card .k { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; background: #fff; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f3f4; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.met td.verdict { color: #1e8449; font-weight: 650; }
tr.not-met td.verdict { color: #b03a2e; font-weight: 650; }
td.verdict.none { color: var(--muted); }
.bar { display: inline-block; height: 9px; background: #2e86c1; vertical-align: middle; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.row .grow { flex: 1 1 420px; max-width: 640px; }
svg.plot { width: 100%; max-width: 760px; height: auto; display: block; }
svg.map { width: 100%; max-width: 1100px; height: auto; display: block; background: #fff;
  overflow: hidden;
  border: 1px solid var(--line); border-radius: 6px; }
svg.map .sea { fill: #fdfefe; }
svg.map .link { stroke-width: 1.2; stroke-opacity: 0.55; }
svg.map .link.mode-road { stroke: #95a5a6; }
svg.map .link.mode-rail { stroke: #8e44ad; stroke-dasharray: 6 2; }
svg.map .link.mode-water { stroke: #2980b9; }
svg.map .link.mode-air { stroke: #16a085; stroke-dasharray: 1 3; stroke-opacity: 0.35; }
svg.map .link.state-closed { stroke: #c0392b; stroke-width: 3; stroke-opacity: 0.9;
  stroke-dasharray: 7 4; }
svg.map .link.state-degraded { stroke: #e67e22; stroke-width: 2.5; stroke-opacity: 0.9;
  stroke-dasharray: 4 3; }
svg.map .link.state-reopened { stroke: #7f8c8d; stroke-width: 2; stroke-dasharray: 2 3; }
svg.map .route { stroke: #1f3a93; stroke-opacity: 0.45; stroke-linecap: round; }
svg.map .node circle { fill: #34495e; }
svg.map .node.lost circle { fill: #c0392b; r: 5; }
svg.map .depot { fill: #f7dc6f; stroke: #7d6608; stroke-width: 1.2; }
svg.map .depot.lost { fill: #c0392b; stroke: #641e16; }
svg.map .need { stroke: #fff; stroke-width: 0.8; }
svg.map .label { font-size: 11px; fill: #1c2833; paint-order: stroke; stroke: #fff;
  stroke-width: 3px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: var(--muted);
  margin: 6px 0; }
.legend i { display: inline-block; width: 18px; height: 10px; margin-right: 5px;
  vertical-align: middle; }
.note { color: var(--muted); }
.warn { background: #fdedec; border: 1px solid #f5b7b1; padding: 8px 12px; border-radius: 6px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _e(value: object) -> str:
    return escape(str(value))


def _t(kg: int | float) -> str:
    """Kilograms as tonnes for people."""
    return f"{kg / 1000:,.1f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def _h(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} h"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """A table; cells are already-escaped HTML. ``numeric`` column indexes align right."""
    th = "".join(
        f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _fill_rows(fills: Mapping[str, Fill]) -> list[list[str]]:
    return [
        [
            _e(k.replace("_", " ")),
            _t(f.requested_kg),
            _t(f.delivered_kg),
            f'{_pct(f.fill)} <span class="bar" style="width:{f.fill * 80:.0f}px"></span>',
        ]
        for k, f in fills.items()
    ]


def _dist_row(name: str, d: Distribution, unit: str) -> list[str]:
    def f(x: float | None) -> str:
        return "–" if x is None else f"{x:,.1f}".replace("-0.0", "0.0")

    return [
        _e(name),
        str(d.count),
        f(d.min),
        f(d.median),
        f(d.p90),
        f(d.max),
        _e(unit),
    ]


def _priority(priority: str) -> str:
    colour = PRIORITY_COLOURS.get(priority, "inherit")
    return f'<span style="color:{colour}">{_e(priority.replace("_", " "))}</span>'


def _card(value: str, key: str) -> str:
    return f'<div class="card"><div class="v">{value}</div><div class="k">{_e(key)}</div></div>'


def _plot(svg: str | None, empty: str) -> str:
    return svg if svg else f'<p class="note">{_e(empty)}</p>'


def _verdict(met: bool | None) -> tuple[str, str]:
    if met is None:
        return "", '<td class="verdict none">not judged</td>'
    return (
        ("met", '<td class="verdict">met</td>')
        if met
        else (
            "not-met",
            '<td class="verdict">not met</td>',
        )
    )


def _inject_table(injects: Sequence[InjectRecord], expectations: Sequence[Expectation]) -> str:
    keys: dict[str, int] = {}
    for i, inj in enumerate(injects):
        keys.setdefault(inj.event_id, i)
        if inj.subject:
            keys.setdefault(inj.subject, i)
    attached: dict[int, list[Expectation]] = {}
    loose: list[Expectation] = []
    for x in expectations:
        if x.inject is not None and x.inject in keys:
            attached.setdefault(keys[x.inject], []).append(x)
        else:
            loose.append(x)
    head = (
        "<tr><th>at</th><th>inject</th><th>what it said</th><th>what the system did</th>"
        "<th>expected</th><th>actual</th><th>verdict</th></tr>"
    )
    rows: list[str] = []
    for i, inj in enumerate(injects):
        checks = attached.get(i, [])
        span = max(1, len(checks))
        lead = (
            f'<td rowspan="{span}" class="n">+{inj.at_h:g} h</td>'
            f'<td rowspan="{span}">{_e(inj.kind.replace("_", " "))}<br>'
            f"<small>{_e(inj.subject)}</small></td>"
            f'<td rowspan="{span}">{_e(inj.summary)}</td>'
            f'<td rowspan="{span}">{_e(inj.response)}</td>'
        )
        if not checks:
            rows.append(f'<tr>{lead}<td colspan="3" class="note">no expectation set</td></tr>')
            continue
        for j, x in enumerate(checks):
            cls, verdict = _verdict(x.met)
            cells = (
                f"<td><b>{_e(x.id)}</b> {_e(x.description)}<br>{_e(x.expected)}</td>"
                f"<td>{_e(x.actual)}</td>{verdict}"
            )
            rows.append(f'<tr class="{cls}">{lead if j == 0 else ""}{cells}</tr>')
    for x in loose:
        cls, verdict = _verdict(x.met)
        rows.append(
            f'<tr class="{cls}"><td colspan="2">run-wide</td><td colspan="2">'
            f"<b>{_e(x.id)}</b> {_e(x.description)}</td><td>{_e(x.expected)}</td>"
            f"<td>{_e(x.actual)}</td>{verdict}</tr>"
        )
    if not rows:
        return '<p class="note">No injects in this run.</p>'
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(
    kpis: Kpis,
    network: NetworkView,
    expectations: Sequence[ExpectationLike] = (),
    warnings: Sequence[str] = (),
) -> str:
    """The whole report page; deterministic for the same inputs (no dates, fixed SVG ids)."""
    checks = [Expectation.of(x) for x in expectations]
    plots = all_plots(kpis)
    run = kpis.run
    ex = kpis.execution
    title = run.title or run.scenario or run.run_id or "exercise run"
    met = sum(1 for x in checks if x.met)
    judged = sum(1 for x in checks if x.met is not None)
    life = kpis.fill_by_priority.get("life_saving")
    cards = [
        _card(_pct(kpis.fill.fill), "fill rate, all needs"),
        _card(_pct(life.fill) if life else "–", "fill rate, life-saving"),
        _card(
            _h(kpis.first_delivery.hours_after_raised.median), "median wait, need to first delivery"
        ),
        _card(_pct(kpis.lateness.on_time_share_kg), "delivered on time (by tonnes)"),
        _card(_t(kpis.unmet.total_short_kg) + " t", "unmet demand"),
        _card(f"{kpis.transport.tonne_km_total:,.0f}", "tonne-km"),
        _card(f"{kpis.vehicles.used} / {kpis.vehicles.registered}", "vehicles used / registered"),
        _card(f"{kpis.replans.plans_published}", "plans published"),
        _card(f"{met} / {judged}" if checks else "–", "expectations met"),
        _card(str(kpis.dead_letters.total), "dead letters"),
    ]
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>After-action report: {_e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>After-action report: {_e(title)}</h1>",
        f'<p class="sub">run <b>{_e(run.run_id or "?")}</b>'
        + (f" · scenario {_e(run.scenario)}" if run.scenario else "")
        + f" · {_e(run.start or '?')} to {_e(run.end or '?')}"
        + (f" (events span {run.duration_h:g} h)" if run.duration_h is not None else "")
        + f" · {run.events:,} events"
        + (f" · {run.wall_time_s:g} s wall time" if run.wall_time_s is not None else "")
        + "</p>",
        f'<p><span class="basis {ex.basis}">{_e(ex.basis)}</span> {_e(ex.note)}</p>',
    ]
    out += [f'<p class="warn">{_e(w)}</p>' for w in warnings]
    out.append(f'<div class="cards">{"".join(cards)}</div>')

    # --- fill
    out.append("<h2>Fill rate</h2>")
    out.append('<div class="row"><div><h3>By priority class</h3>')
    out.append(
        _table(
            ["priority", "requested t", "delivered t", "fill"],
            _fill_rows(kpis.fill_by_priority),
            {1, 2},
        )
    )
    out.append("</div><div><h3>By region (of the need's node)</h3>")
    out.append(
        _table(
            ["region", "requested t", "delivered t", "fill"],
            _fill_rows(kpis.fill_by_region),
            {1, 2},
        )
    )
    out.append("</div></div><h3>Delivered over time, by priority</h3>")
    out.append(_plot(plots["fill"], "Nothing was delivered."))

    # --- timeliness
    fd = kpis.first_delivery
    lt = kpis.lateness
    out.append("<h2>Timeliness</h2>")
    out.append(
        f"<p>{fd.needs_with_delivery} of {fd.needs_total} needs got a first delivery; the first "
        f"delivery of the run came {_h(fd.first_delivery_h_from_start)} after the start. "
        f"{lt.late} of {lt.deliveries} deliveries ({_t(lt.late_kg)} of {_t(lt.delivered_kg)} t) "
        f"arrived after their need's deadline; {lt.needs_fully_served_late} needs were fully "
        f"served only after it.</p>"
    )
    out.append(
        _table(
            ["measure", "count", "min", "median", "p90", "max", "unit"],
            [
                _dist_row("need raised to first delivery", fd.hours_after_raised, "h"),
                _dist_row("delivery minus deadline (lateness)", lt.lateness_h, "h"),
            ],
            {1, 2, 3, 4, 5},
        )
    )
    out.append("<h3>Lateness of each delivery (tonnes)</h3>")
    out.append(_plot(plots["lateness"], "No deliveries."))

    # --- unmet
    un = kpis.unmet
    out.append("<h2>Unmet demand</h2>")
    if un.needs:
        out.append(
            _table(
                ["reason", "short t"],
                [[_e(r), _t(kg)] for r, kg in un.short_kg_by_reason.items()],
                {1},
            )
        )
        out.append(
            _table(
                [
                    "need",
                    "priority",
                    "region",
                    "commodity",
                    "requested t",
                    "delivered t",
                    "short t",
                    "reason",
                    "detail",
                ],
                [
                    [
                        _e(n.need_id),
                        _e(n.priority.replace("_", " ")),
                        _e(n.region),
                        _e(n.commodity),
                        _t(n.requested_kg),
                        _t(n.delivered_kg),
                        _t(n.short_kg),
                        _e(n.reason),
                        _e(n.detail),
                    ]
                    for n in un.needs
                ],
                {4, 5, 6},
            )
        )
    else:
        out.append('<p class="note">Every need was fully served.</p>')

    # --- map
    out.append("<h2>Network map</h2>")
    out.append(
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{c}"></i>{_e(m)} link</span>'
            for m, c in MODE_COLOURS.items()
        )
        + '<span><i style="background:#c0392b"></i>closed at the end</span>'
        + '<span><i style="background:#e67e22"></i>degraded at the end</span>'
        + '<span><i style="background:#7f8c8d"></i>cut, reopened</span>'
        + '<span><i style="background:#1f3a93;opacity:.5"></i>driven (width: trips)</span>'
        + '<span><i style="background:#f7dc6f;border:1px solid #7d6608"></i>depot</span>'
        + "".join(
            f'<span><i style="background:{c};border-radius:5px"></i>need {_e(s)}</span>'
            for s, c in STATUS_COLOURS.items()
        )
        + "</div>"
    )
    links_used = kpis.transport.links_used
    box = focus_box(network, kpis.needs)
    if box is not None:
        out.append("<h3>Area of operations (around the needs)</h3>")
        out.append(render_map(network, kpis.needs, links_used, map_id="map-focus", box=box))
    out.append("<h3>Whole network</h3>")
    out.append(render_map(network, kpis.needs, links_used, map_id="map-network"))
    out.append(
        '<p class="note">Equirectangular projection of the nodes\' coordinates; links are drawn '
        "straight. Hover for names and figures.</p>"
    )

    # --- injects and expectations
    out.append("<h2>Injects: expected and actual outcomes</h2>")
    if not checks:
        out.append('<p class="note">No expectations were given for this run.</p>')
    out.append(_inject_table(kpis.injects, checks))

    # --- transport
    tr = kpis.transport
    out.append("<h2>Transport</h2>")
    out.append('<div class="row"><div>')
    out.append(
        _table(
            ["mode", "tonne-km", "vehicle-km"],
            [
                [_e(m), f"{tr.tonne_km_by_mode[m]:,.0f}", f"{tr.vehicle_km_by_mode[m]:,.0f}"]
                for m in tr.tonne_km_by_mode
            ],
            {1, 2},
        )
    )
    if tr.unknown_links:
        unknown = _e(", ".join(tr.unknown_links))
        out.append(f'<p class="warn">Links used but never registered: {unknown}</p>')
    vh = kpis.vehicles
    out.append(
        _table(
            ["vehicles used", "count"],
            [[_e(f"owner: {k}"), str(v)] for k, v in vh.used_by_owner.items()]
            + [[_e(f"mode: {k}"), str(v)] for k, v in vh.used_by_mode.items()],
            {1},
        )
    )
    out.append('</div><div class="grow">')
    out.append(_plot(plots["tonne_km"], "No goods moved."))
    out.append("</div></div>")
    out.append(
        f"<p>{ex.orders_issued} dispatch orders issued"
        + (
            f", {ex.orders_started} started, {ex.orders_completed} completed, "
            f"{len(ex.breakdowns)} vehicles broke down"
            if ex.basis == "executed"
            else ""
        )
        + ".</p>"
    )
    if ex.breakdowns:
        out.append(
            _table(
                ["vehicle", "order", "where", "when", "aboard t"],
                [
                    [_e(b.vehicle_id), _e(b.order_id), _e(b.node_id), _e(b.at), _t(b.cargo_kg)]
                    for b in ex.breakdowns
                ],
                {4},
            )
        )

    # --- re-plans
    rp = kpis.replans
    out.append("<h2>Plans and re-plans</h2>")
    out.append(
        f"<p>{rp.plans_published} plans published ({rp.replans} re-plans) for {rp.requests} "
        f"plan requests ({rp.requests_without_plan} without a plan). Latency is simulated "
        "time from the earliest inject behind a request to the plan; solve time is wall clock. "
        "Of limit: the plan's priority-weighted served mass over the most any plan could deliver "
        "by the deadlines on the surviving network (– for plans recorded before v2). "
        "Churn: of the (vehicle, need) assignments a plan left open (not yet turned into "
        "dispatch orders) on needs the next plan planned again, the share the next plan changed"
        + ("; no plan left open assignments for the next to change" if rp.churn.count == 0 else "")
        + ".</p>"
    )
    out.append(
        _table(
            ["measure", "count", "min", "median", "p90", "max", "unit"],
            [
                _dist_row("latency, trigger to plan", rp.latency_s, "s (simulated)"),
                _dist_row("solve time", rp.solve_time_ms, "ms"),
                _dist_row("plan churn", rp.churn, "share"),
            ],
            {1, 2, 3, 4, 5},
        )
    )
    out.append(_plot(plots["replans"], "No plan was published."))
    out.append(
        _table(
            [
                "v",
                "published",
                "why",
                "latency",
                "solve ms",
                "needs",
                "vehicles",
                "plan fill",
                "of limit",
                "churn",
                "hash",
            ],
            [
                [
                    str(p.version),
                    _e(p.time),
                    _e(p.reason),
                    "–" if p.latency_s is None else f"{p.latency_s / 60:g} min",
                    f"{p.solve_time_ms:,}",
                    str(p.needs_planned),
                    str(p.vehicles_used),
                    _pct(p.fill_rate),
                    _pct(p.served_fraction_of_bound),
                    "–"
                    if p.churn is None
                    else f"{p.churn:.0%} ({p.assignments_changed}/{p.assignments_compared})",
                    f"<code>{_e(p.plan_hash[:12])}</code>",
                ]
                for p in rp.plans
            ],
            {0, 3, 4, 5, 6, 7, 8, 9},
        )
    )

    # --- dead letters
    dl = kpis.dead_letters
    out.append("<h2>Dead letters</h2>")
    if dl.total:
        out.append(
            _table(
                ["stream", "event id", "type", "line in events.jsonl"],
                [
                    [
                        _e(d.stream),
                        _e(d.event_id or "?"),
                        _e(d.event_type or "?"),
                        _e(d.line or "?"),
                    ]
                    for d in dl.entries
                ],
                {3},
            )
        )
    else:
        out.append('<p class="note">None: every event on the bus was accepted.</p>')

    # --- needs
    out.append("<h2>Every need</h2>")
    out.append(
        _table(
            [
                "need",
                "priority",
                "node",
                "region",
                "commodity",
                "requested t",
                "delivered t",
                "status",
                "raised",
                "deadline",
                "first delivery",
                "wait",
                "lateness",
            ],
            [
                [
                    _e(n.need_id),
                    _priority(n.priority),
                    _e(n.node_id),
                    _e(n.region),
                    _e(n.commodity),
                    _t(n.requested_kg),
                    _t(n.delivered_kg),
                    f'<span style="color:{STATUS_COLOURS[n.status]}">{_e(n.status)}</span>',
                    _e(n.raised_at),
                    _e(n.deadline),
                    _e(n.first_delivery_at or "–"),
                    _h(n.hours_to_first_delivery),
                    "–" if n.lateness_h is None else f"{n.lateness_h:+.1f} h",
                ]
                for n in kpis.needs
            ],
            {5, 6, 11, 12},
        )
    )
    out.append(
        "<footer>Made by <code>hinterland exercise report</code> from the run's events.jsonl "
        "(every event of every stream); the same JSON is in aar.json beside this file. "
        f"Deliveries basis: {_e(ex.basis)}.</footer>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
