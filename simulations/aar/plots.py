"""matplotlib charts of the KPIs, rendered to SVG text that can sit inline in an HTML page.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no global figure state) and
saved with text as paths, fixed hash salt and no date, so the same KPIs give the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

from simulations.aar.kpis import Kpis, PlanRecord

PRIORITY_COLOURS: Final = {
    "life_saving": "#c0392b",
    "sustaining": "#e67e22",
    "routine": "#2e86c1",
}
MODE_COLOURS: Final = {
    "road": "#7f8c8d",
    "rail": "#8e44ad",
    "water": "#2980b9",
    "air": "#16a085",
}
_RC: Final[dict[RcKeyType, Any]] = {
    "svg.hashsalt": "hinterland-aar",
    "svg.fonttype": "path",  # text as outlines: no font has to exist where the file is opened
    "font.size": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_ROOT_ATTRS: Final = re.compile(r'\s(?:xmlns(?::\w+)?|width|height|version)="[^"]*"')


def inline_svg(fig: Figure, prefix: str, label: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page.

    Drops the XML prolog, DOCTYPE, namespaces (HTML parsers supply them; their URLs are the
    only web addresses matplotlib writes) and fixed size, and prefixes every id so several
    figures on one page cannot clash (matplotlib numbers ``figure_1``, ``axes_1``... afresh).
    """
    buf = io.StringIO()
    with mpl.rc_context(_RC):
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    head_end = text.index(">")
    head = _ROOT_ATTRS.sub("", text[:head_end])
    head += f' class="plot" role="img" aria-label="{label}"'
    text = head + text[head_end:]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    # matplotlib's own rule would style the whole page; keep it inside the plots.
    text = text.replace("*{stroke-linejoin", "svg.plot *{stroke-linejoin")
    return text.strip()


def _figure(width: float = 7.0, height: float = 2.8) -> Figure:
    with mpl.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def fill_over_time(timeline: Mapping[str, Sequence[tuple[float, float]]], end_h: float) -> Figure:
    """Cumulative share of each priority class's requested kilograms delivered, over time."""
    fig = _figure()
    with mpl.rc_context(_RC):
        ax = fig.subplots()
        last = max([end_h] + [points[-1][0] for points in timeline.values() if points])
        for prio, points in timeline.items():
            xs = [p[0] for p in points] + [last]
            ys = [p[1] for p in points] + [points[-1][1]]
            ax.step(
                xs,
                [y * 100 for y in ys],
                where="post",
                label=prio.replace("_", " "),
                color=PRIORITY_COLOURS.get(prio),
                linewidth=1.6,
            )
        ax.set_xlabel("hours from the start of the exercise")
        ax.set_ylabel("delivered, % of requested")
        ax.set_ylim(0, 105)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", frameon=False)
    return fig


def lateness_histogram(lateness_h: Sequence[float], tonnes: Sequence[float]) -> Figure:
    """Tonnes delivered by lateness (delivery minus deadline, hours); left of 0 is on time."""
    fig = _figure(height=2.6)
    with mpl.rc_context(_RC):
        ax = fig.subplots()
        lo, hi = min(min(lateness_h), -1.0), max(max(lateness_h), 1.0)
        step = max(1.0, round((hi - lo) / 24))
        edges = [lo - lo % step + step * i for i in range(int((hi - lo) / step) + 3)]
        late = [t if x > 0 else 0.0 for x, t in zip(lateness_h, tonnes, strict=True)]
        early = [0.0 if x > 0 else t for x, t in zip(lateness_h, tonnes, strict=True)]
        ax.hist(
            [list(lateness_h), list(lateness_h)],
            bins=edges,
            weights=[early, late],
            stacked=True,
            color=["#27ae60", "#c0392b"],
            label=["on time", "late"],
        )
        ax.axvline(0, color="#333333", linewidth=0.8, linestyle="--")
        ax.set_xlabel("delivery time minus deadline, hours")
        ax.set_ylabel("tonnes delivered")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(frameon=False)
    return fig


def replan_chart(plans: Sequence[PlanRecord]) -> Figure:
    """Solve time per plan (bars) and simulated latency from trigger to plan (dots)."""
    fig = _figure(height=2.6)
    with mpl.rc_context(_RC):
        ax = fig.subplots()
        versions = [p.version for p in plans]
        ax.bar(versions, [p.solve_time_ms for p in plans], color="#5d6d7e", label="solve time")
        ax.set_xlabel("plan version")
        ax.set_ylabel("solve time, ms (wall clock)")
        ax.set_xticks(versions)
        ax.grid(alpha=0.3, axis="y")
        twin = ax.twinx()
        latency = [(p.version, p.latency_s / 60) for p in plans if p.latency_s is not None]
        twin.plot(
            [v for v, _ in latency],
            [m for _, m in latency],
            "o",
            color="#c0392b",
            label="latency (simulated)",
        )
        twin.set_ylabel("trigger to plan, simulated minutes")
        twin.set_ylim(bottom=0, top=max([1.0] + [m * 1.2 for _, m in latency]))
        twin.spines["right"].set_visible(True)
        handles = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], frameon=False, loc="upper right")
    return fig


def _thousands(x: float, _pos: int | None = None) -> str:
    return f"{x / 1000:g}k" if abs(x) >= 1000 else f"{x:g}"


def tonne_km_chart(by_mode: Mapping[str, float]) -> Figure:
    fig = _figure(width=5.0, height=0.6 + 0.45 * len(by_mode))
    with mpl.rc_context(_RC):
        ax = fig.subplots()
        modes = list(by_mode)
        ax.barh(modes, [by_mode[m] for m in modes], color=[MODE_COLOURS.get(m) for m in modes])
        ax.set_xlabel("tonne-km")
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
    return fig


def all_plots(kpis: Kpis) -> dict[str, str | None]:
    """Every chart of the report as inline SVG (None where there is nothing to draw)."""
    end_h = kpis.run.duration_h or 0.0
    deliveries = kpis.deliveries
    out: dict[str, str | None] = {
        "fill": None,
        "lateness": None,
        "replans": None,
        "tonne_km": None,
    }
    if any(len(points) > 1 for points in kpis.fill_timeline.values()):
        out["fill"] = inline_svg(
            fill_over_time(kpis.fill_timeline, end_h), "pf", "fill over time by priority"
        )
    if deliveries:
        out["lateness"] = inline_svg(
            lateness_histogram(
                [d.lateness_h for d in deliveries], [d.quantity_kg / 1000 for d in deliveries]
            ),
            "pl",
            "lateness histogram",
        )
    if kpis.replans.plans:
        out["replans"] = inline_svg(
            replan_chart(kpis.replans.plans), "pr", "solve time and re-plan latency per plan"
        )
    if any(kpis.transport.tonne_km_by_mode.values()):
        out["tonne_km"] = inline_svg(
            tonne_km_chart(kpis.transport.tonne_km_by_mode), "pt", "tonne-km by mode"
        )
    return out
