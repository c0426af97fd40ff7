"""Expected outcomes of scenario injects, and a pure evaluator of them against what happened.

An exercise controller attaches checks to an inject (HSEEP's "expected outcome"), e.g. "all
life-saving needs at Ya'an served within 12 h of the main shock". A check is structured data,
validated like the rest of the scenario file, never a free-text formula::

    expect:
      - id: EXP-YAAN-12H
        description: "Life-saving needs at Ya'an served within 12 h"
        needs: {priority: life_saving, node_ids: [N-yaan], raised_within_h: 6}
        served_fraction_at_least: 1.0      # of the requested mass, summed over those needs
        within_h: 12                       # counted from the inject
        first_delivery_within_h: 4         # optional second check: first delivery by then

Which needs a check is about (``needs``): every filter given must match (priority, node, region,
commodity: one value or a list). Needs named in ``need_ids`` are in scope whenever they were
raised; otherwise a check is about needs raised at or after its inject (and no later than
``raised_within_h`` after it, if given): an expectation judges what follows its inject.

A check holds when every part of it holds: the *fill check* (present when any of
``served_fraction_at_least`` (default 1.0), ``within_h`` or ``by_deadline`` is given) compares
the delivered share of the requested mass, each need counting at most its requested mass and
only deliveries by inject + ``within_h`` (or the end of the run) and, with ``by_deadline``, by
that need's own deadline; the *first-delivery check* asks that some need in scope received goods
within ``first_delivery_within_h`` of the inject. A check with no need in scope is not met.

``evaluate`` is pure: its inputs are plain values (``Expectation`` from the loaded scenario,
``NeedOutcome`` built by the caller from the run's execution events) and it reads no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.common import Commodity, Identifier, Priority

__all__ = [
    "Delivery",
    "Expectation",
    "ExpectationResult",
    "ExpectationSpec",
    "NeedOutcome",
    "NeedSelector",
    "evaluate",
]


def _as_list(value: object) -> object:
    """Let authors write ``priority: life_saving`` as well as ``priority: [life_saving]``."""
    return [value] if isinstance(value, str) else value


class NeedSelector(BaseModel):
    """Which needs an expectation is about; every filter given must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    need_ids: list[Identifier] | None = Field(
        None, min_length=1, description="These needs, whenever they were raised."
    )
    priority: list[Priority] | None = Field(None, min_length=1)
    node_ids: list[Identifier] | None = Field(None, min_length=1)
    region: list[str] | None = Field(None, min_length=1, description="Province of the node.")
    commodity: list[Commodity] | None = Field(None, min_length=1)
    raised_within_h: float | None = Field(
        None, ge=0, description="Only needs raised no later than this after the inject."
    )

    @field_validator("need_ids", "priority", "node_ids", "region", "commodity", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return _as_list(value)

    def matches(self, need: NeedOutcome, inject_at: datetime) -> bool:
        """Whether ``need`` is in scope of an expectation attached to an inject at ``inject_at``."""
        if self.need_ids is not None:
            if need.need_id not in self.need_ids:
                return False
        else:
            if need.raised_at < inject_at:
                return False
            if self.raised_within_h is not None and need.raised_at > inject_at + timedelta(
                hours=self.raised_within_h
            ):
                return False
        return (
            (self.priority is None or need.priority in self.priority)
            and (self.node_ids is None or need.node_id in self.node_ids)
            and (self.region is None or need.region in self.region)
            and (self.commodity is None or need.commodity in self.commodity)
        )

    def describe(self) -> str:
        parts = []
        if self.need_ids is not None:
            parts.append("needs " + ", ".join(self.need_ids))
        for label, values in (
            ("priority", self.priority),
            ("at", self.node_ids),
            ("in", self.region),
            ("commodity", self.commodity),
        ):
            if values is not None:
                parts.append(f"{label} {'/'.join(values)}")
        if self.need_ids is None:
            window = (
                f"within {_hours(self.raised_within_h)} h of the inject"
                if self.raised_within_h is not None
                else "after the inject"
            )
            parts.append(f"raised {window}")
        return ", ".join(parts)


class ExpectationSpec(BaseModel):
    """One expected outcome of an inject, as written in the scenario file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    description: str = ""
    needs: NeedSelector = Field(default_factory=NeedSelector)
    served_fraction_at_least: float | None = Field(
        None, gt=0, le=1, description="Share of the requested mass delivered (default 1.0)."
    )
    within_h: float | None = Field(
        None, gt=0, description="Deliveries counted up to this many hours after the inject."
    )
    by_deadline: bool = Field(False, description="Count each need's deliveries by its deadline.")
    first_delivery_within_h: float | None = Field(
        None, gt=0, description="Some need in scope gets goods within this many hours."
    )

    @model_validator(mode="after")
    def _checks_something(self) -> Self:
        if not self.has_fill_check and self.first_delivery_within_h is None:
            raise ValueError(
                "say what to check: served_fraction_at_least, within_h, by_deadline "
                "or first_delivery_within_h"
            )
        return self

    @property
    def has_fill_check(self) -> bool:
        return (
            self.served_fraction_at_least is not None
            or self.within_h is not None
            or self.by_deadline
        )

    @property
    def fraction(self) -> float:
        return 1.0 if self.served_fraction_at_least is None else self.served_fraction_at_least


@dataclass(frozen=True, slots=True)
class Expectation:
    """An ``ExpectationSpec`` bound to its inject: ``at`` is the inject's simulated time."""

    spec: ExpectationSpec
    at: datetime
    inject: str | None = None  # subject of the inject (e.g. its disruption id), for reports

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def description(self) -> str:
        return self.spec.description


class Delivery(NamedTuple):
    """Goods handed over for a need (execution stage ``unloaded``)."""

    at: datetime
    kg: int


@dataclass(frozen=True, slots=True)
class NeedOutcome:
    """What happened to one need during a run: the evaluator's only view of the run."""

    need_id: str
    node_id: str
    region: str
    priority: str
    commodity: str
    requested_kg: int
    raised_at: datetime
    deadline: datetime
    deliveries: Sequence[Delivery] = ()


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    id: str
    description: str
    at: datetime
    met: bool
    expected: str
    actual: str
    inject: str | None = None  # subject of the inject the expectation belongs to
    needs: tuple[str, ...] = ()  # need ids in scope
    served_fraction: float | None = None  # fill check only
    first_delivery_h: float | None = None  # hours after the inject, if anything arrived


def _hours(h: float) -> str:
    return f"{h:g}"


def _tonnes(kg: float) -> str:
    return f"{kg / 1000:,.1f} t"


def _delivered_kg(need: NeedOutcome, until: datetime | None) -> int:
    got = sum(d.kg for d in need.deliveries if until is None or d.at <= until)
    return min(got, need.requested_kg)


def _evaluate_one(
    e: Expectation, outcomes: Sequence[NeedOutcome], end: datetime | None
) -> ExpectationResult:
    spec = e.spec
    scope = [n for n in outcomes if spec.needs.matches(n, e.at)]
    ids = tuple(n.need_id for n in scope)
    expected: list[str] = []
    actual: list[str] = []
    met = bool(scope)
    fraction: float | None = None
    first_h: float | None = None
    if spec.has_fill_check:
        until = e.at + timedelta(hours=spec.within_h) if spec.within_h is not None else end
        when = f"by +{_hours(spec.within_h)} h" if spec.within_h is not None else "by the end"
        if spec.by_deadline:
            when += " and each need's deadline"
        requested = sum(n.requested_kg for n in scope)
        expected.append(
            f">= {spec.fraction:.0%} of the requested mass delivered {when} "
            f"({spec.needs.describe()})"
        )
        short: list[str] = []
        delivered = 0
        full = 0
        for n in scope:
            cutoff = until
            if spec.by_deadline:
                cutoff = n.deadline if cutoff is None else min(cutoff, n.deadline)
            got = _delivered_kg(n, cutoff)
            delivered += got
            if got >= n.requested_kg:
                full += 1
            else:
                short.append(f"{n.need_id} {got / n.requested_kg:.0%}")
        fraction = delivered / requested if requested else 0.0
        # A small tolerance: 1 kg short of 1,000 t must not fail a 100% check by rounding.
        fill_met = bool(scope) and delivered + 1e-9 >= spec.fraction * requested
        met = met and fill_met
        text = (
            f"{fraction:.0%} ({_tonnes(delivered)} of {_tonnes(requested)}) {when}; "
            f"{full} of {len(scope)} needs fully served"
        )
        if short:
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            text += "; short: " + ", ".join(short[:5]) + more
        actual.append(text)
    if spec.first_delivery_within_h is not None:
        expected.append(
            f"first delivery within {_hours(spec.first_delivery_within_h)} h "
            f"({spec.needs.describe()})"
        )
        firsts = sorted(
            (d.at, n.need_id)
            for n in scope
            for d in n.deliveries
            if d.kg > 0 and d.at >= e.at and (end is None or d.at <= end)
        )
        if firsts:
            first_at, first_need = firsts[0]
            first_h = (first_at - e.at).total_seconds() / 3600
            actual.append(f"first delivery at +{first_h:.1f} h ({first_need})")
            met = met and first_h <= spec.first_delivery_within_h
        else:
            actual.append("no delivery")
            met = False
    if not scope:
        actual = ["no need in scope: nothing to judge"]
    return ExpectationResult(
        id=e.id,
        description=e.description,
        at=e.at,
        met=met,
        expected="; ".join(expected),
        actual="; ".join(actual),
        inject=e.inject,
        needs=ids,
        served_fraction=fraction,
        first_delivery_h=first_h,
    )


def evaluate(
    expectations: Iterable[Expectation],
    outcomes: Iterable[NeedOutcome],
    end: datetime | None = None,
) -> list[ExpectationResult]:
    """Judge each expectation against the needs' outcomes, in the order given.

    Parameters
    ----------
    expectations
        Usually ``Scenario.expectations`` (each bound to its inject's time).
    outcomes
        One ``NeedOutcome`` per need raised in the run, with every delivery made for it.
    end
        End of the run: deliveries after it are ignored, and checks without ``within_h`` count
        up to it. ``None`` counts every delivery given.
    """
    needs = list(outcomes)
    return [_evaluate_one(e, needs, end) for e in expectations]
