"""After-action report of an exercise run: KPIs, plots, a network map and expectations, offline.

``write_report(run_dir)`` reads ``run_dir/events.jsonl`` and writes ``report.html`` (one
self-contained file) and ``aar.json``; ``compute_kpis(events)`` is the pure core.
"""

from simulations.aar.html import Expectation, ExpectationLike
from simulations.aar.kpis import (
    DeadLetter,
    Kpis,
    RunMeta,
    compute_kpis,
)
from simulations.aar.report import (
    AarInputError,
    RunEvents,
    read_events,
    write_report,
)

__all__ = [
    "AarInputError",
    "DeadLetter",
    "Expectation",
    "ExpectationLike",
    "Kpis",
    "RunEvents",
    "RunMeta",
    "compute_kpis",
    "read_events",
    "write_report",
]
