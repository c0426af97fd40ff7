"""Vehicles executing dispatch orders in simulated time (SimPy), reporting what they did.

The simulator plays the part of the vehicles' telematics: it takes the ``DispatchOrderIssued``
events dispatch publishes, drives each vehicle through its stops on the order's timetable, and
produces ``OrderProgressReported`` (loaded, unloaded, completed, broken down) and, for idle
vehicles, ``AssetStatusChanged`` events, which the runner publishes on the ingress stream like
any integrated system would. Breakdowns come from the scenario's injects.

A vehicle only carries what it loaded: an unload stop hands over at most what is aboard for
that need, so an order whose reservations were partly refused never delivers phantom goods.
Vehicles already under way are not re-routed by later plans; they finish their order or break
down, and dispatch re-plans around them.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import simpy

from contracts import streams
from contracts.dispatch import DispatchOrderIssuedV1
from contracts.envelope import Classification, Envelope, Mode
from contracts.execution import Cargo, OrderProgressReported, OrderProgressReportedV1
from contracts.transport import AssetStatusChanged, AssetStatusChangedV1
from simulations.scenario import NAMESPACE, TimedEvent

SOURCE: Final = "/hinterland/exercise/telematics"
_RANK: Final[list[str]] = ["public", "restricted", "military"]


@dataclass(slots=True)
class _Vehicle:
    asset_id: str
    node_id: str | None = None
    process: simpy.Process | None = None
    out_of_service: bool = False


@dataclass
class Fleet:
    """The vehicles of one run; ``start`` is simulated time zero."""

    start: datetime
    run_id: str
    mode: Mode = "exercise"
    classification: dict[str, Classification] = field(default_factory=dict)
    env: simpy.Environment = field(init=False)
    emitted: list[TimedEvent] = field(init=False, default_factory=list)
    _vehicles: dict[str, _Vehicle] = field(init=False, default_factory=dict)
    _started: set[str] = field(init=False, default_factory=set)
    _repairs: list[float] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.env = simpy.Environment(initial_time=0)

    # --- clock --------------------------------------------------------------------------------

    def _seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()

    @property
    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.env.now)

    def next_time(self) -> datetime | None:
        """When the next vehicle event happens, or None if every vehicle is idle."""
        peek = self.env.peek()
        return None if peek == float("inf") else self.start + timedelta(seconds=peek)

    def next_repair(self) -> datetime | None:
        """When the next vehicle comes back into service (a change worth re-planning for)."""
        if not self._repairs:
            return None
        return self.start + timedelta(seconds=min(self._repairs))

    def advance(self, until: datetime | None = None, inclusive: bool = True) -> list[TimedEvent]:
        """Run vehicle events up to ``until`` (all of them if None); return what was reported.

        Inclusive, the clock then stands at ``until``; exclusive, at the last event before it.
        """
        target = float("inf") if until is None else self._seconds(until)
        while (peek := self.env.peek()) < target or (
            inclusive and peek == target and peek != float("inf")
        ):
            self.env.step()
        if inclusive and until is not None and self.env.now < target:
            self.env.run(until=target)
        out, self.emitted = self.emitted, []
        return out

    # --- inputs -------------------------------------------------------------------------------

    def dispatch(self, orders: Iterable[DispatchOrderIssuedV1]) -> None:
        """Start driving every order not seen before (orders are idempotent by id)."""
        for evt in orders:
            order = evt.data
            if order.order_id in self._started:
                continue
            self._started.add(order.order_id)
            vehicle = self._vehicle(order.vehicle_id)
            if vehicle.out_of_service:
                self._report(evt, "broken_down", vehicle.node_id or order.stops[0].node_id, [])
                continue
            vehicle.process = self.env.process(self._drive(evt, vehicle))
        # Start the new processes now, so that next_time() is their first real move.
        while self.env.peek() <= self.env.now:
            self.env.step()

    def break_down(self, asset_id: str, repair_h: float | None = None) -> None:
        """The vehicle fails now: an order under way stops where it is; repaired later if given."""
        vehicle = self._vehicle(asset_id)
        if vehicle.out_of_service:
            return
        vehicle.out_of_service = True
        if vehicle.process is not None and vehicle.process.is_alive:
            vehicle.process.interrupt("breakdown")
        else:
            self._status(vehicle, "maintenance")
        if repair_h is not None:
            self.env.process(self._repair(vehicle, repair_h))

    # --- processes ----------------------------------------------------------------------------

    def _drive(self, evt: DispatchOrderIssuedV1, vehicle: _Vehicle) -> Generator[Any, Any, None]:
        order = evt.data
        aboard: dict[tuple[str, str], tuple[str, int]] = {}  # (depot, need) -> (commodity, kg)
        try:
            for index, stop in enumerate(order.stops):
                if stop.action == "load":
                    yield self.env.timeout(max(0.0, self._seconds(stop.etd) - self.env.now))
                    vehicle.node_id = stop.node_id
                    key = (stop.depot_id or "", stop.need_id or "")
                    _, kg = aboard.get(key, (stop.commodity, 0))
                    aboard[key] = (stop.commodity, kg + stop.quantity_kg)
                    self._report(
                        evt,
                        "loaded",
                        stop.node_id,
                        [_cargo(key, stop.commodity, stop.quantity_kg)],
                        index,
                    )
                else:
                    yield self.env.timeout(max(0.0, self._seconds(stop.eta) - self.env.now))
                    vehicle.node_id = stop.node_id
                    handed = _hand_over(aboard, stop.need_id, stop.quantity_kg)
                    if handed:
                        self._report(evt, "unloaded", stop.node_id, handed, index)
            yield self.env.timeout(max(0.0, self._seconds(order.release_at) - self.env.now))
            self._report(evt, "completed", vehicle.node_id or order.stops[-1].node_id, [])
        except simpy.Interrupt:
            remaining = [_cargo(k, c, kg) for k, (c, kg) in sorted(aboard.items()) if kg > 0]
            self._report(
                evt,
                "broken_down",
                vehicle.node_id or order.stops[0].node_id,
                remaining,
                detail="vehicle broke down; cargo aboard stays with it",
            )
        finally:
            vehicle.process = None

    def _repair(self, vehicle: _Vehicle, hours: float) -> Generator[Any, Any, None]:
        back = self.env.now + hours * 3600
        self._repairs.append(back)
        yield self.env.timeout(hours * 3600)
        self._repairs.remove(back)
        vehicle.out_of_service = False
        self._status(vehicle, "available")

    # --- output -------------------------------------------------------------------------------

    def _vehicle(self, asset_id: str) -> _Vehicle:
        return self._vehicles.setdefault(asset_id, _Vehicle(asset_id))

    def _envelope(
        self,
        cls: type[Envelope],
        key: str,
        subject: str,
        data: Any,
        classification: Classification,
    ) -> TimedEvent:
        envelope = cls.model_validate(
            {
                "id": str(uuid.uuid5(NAMESPACE, f"{self.run_id}:exec:{key}")),
                "source": SOURCE,
                "time": self.now,
                "subject": subject,
                "correlationid": self.run_id,
                "mode": self.mode,
                "classification": classification,
                "data": data,
            }
        )
        return TimedEvent(at=self.now, stream=streams.INGRESS, event=envelope)

    def _report(
        self,
        evt: DispatchOrderIssuedV1,
        stage: str,
        node_id: str,
        cargo: list[Cargo],
        stop_index: int | None = None,
        detail: str = "",
    ) -> None:
        order = evt.data
        progress = OrderProgressReported.model_validate(
            {
                "order_id": order.order_id,
                "vehicle_id": order.vehicle_id,
                "stage": stage,
                "node_id": node_id,
                "stop_index": stop_index,
                "cargo": cargo,
                "detail": detail,
            }
        )
        key = f"{order.order_id}:{stage}:{stop_index}"
        # As secret as the order (its needs) or the vehicle, whichever is more.
        classification = max(
            evt.classification,
            self.classification.get(order.vehicle_id, "public"),
            key=_RANK.index,
        )
        self.emitted.append(
            self._envelope(OrderProgressReportedV1, key, order.vehicle_id, progress, classification)
        )

    def _status(self, vehicle: _Vehicle, status: str) -> None:
        change = AssetStatusChanged.model_validate(
            {"asset_id": vehicle.asset_id, "status": status, "node_id": vehicle.node_id}
        )
        key = f"{vehicle.asset_id}:{status}:{self.env.now}"
        classification = self.classification.get(vehicle.asset_id, "public")
        self.emitted.append(
            self._envelope(AssetStatusChangedV1, key, vehicle.asset_id, change, classification)
        )


def _cargo(key: tuple[str, str], commodity: str, kg: int) -> Cargo:
    return Cargo(depot_id=key[0], need_id=key[1], commodity=commodity, quantity_kg=kg)


def _hand_over(
    aboard: dict[tuple[str, str], tuple[str, int]], need_id: str | None, wanted: int
) -> list[Cargo]:
    """Take up to ``wanted`` kg for ``need_id`` off the vehicle, depot by depot in id order."""
    handed: list[Cargo] = []
    for key in sorted(aboard):
        _, need = key
        commodity, kg = aboard[key]
        if need != need_id or kg <= 0 or wanted <= 0:
            continue
        take = min(kg, wanted)
        aboard[key] = (commodity, kg - take)
        wanted -= take
        handed.append(_cargo(key, commodity, take))
    return handed
