"""Depots, stock lines and reservations: the rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

DepotStatus = Literal["operational", "lost"]
ReservationStatus = Literal["reserved", "rejected", "released", "dispatched"]
Classification = Literal["public", "restricted", "military"]


class ReservesError(Exception):
    """A broken invariant (a bug or a corrupt state), not a business refusal."""


@dataclass(slots=True)
class StockLine:
    """One commodity at one depot, with the ledger that proves nothing was lost.

    ``on_hand_kg`` includes what is reserved; stock leaves it only when a vehicle reports it
    loaded, then sits in ``in_transit_kg`` until unloaded at the need (``delivered_kg``).
    Absolute counts from the depot move ``on_hand_kg`` and are booked as adjustments, so that
    always ``adjusted_in - adjusted_out == on_hand + in_transit + delivered``.
    """

    commodity: str
    on_hand_kg: int
    reserved_kg: int = 0
    in_transit_kg: int = 0
    delivered_kg: int = 0
    adjusted_in_kg: int = 0
    adjusted_out_kg: int = 0
    counted_at: datetime | None = None
    """When the count in force was taken (the time of its report); None: never counted."""

    @property
    def balanced(self) -> bool:
        return self.adjusted_in_kg - self.adjusted_out_kg == (
            self.on_hand_kg + self.in_transit_kg + self.delivered_kg
        )

    @property
    def available_kg(self) -> int:
        return max(0, self.on_hand_kg - self.reserved_kg)


@dataclass(frozen=True, slots=True)
class Reserved:
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Literal["insufficient_stock", "depot_unavailable", "unknown_depot"]
    available_kg: int
    detail: str


@dataclass(slots=True)
class Depot:
    depot_id: str
    name: str
    node_id: str
    tier: str
    owner: str
    status: DepotStatus = "operational"
    classification: Classification = "public"
    stock: dict[str, StockLine] = field(default_factory=dict)
    lost_by: str | None = None

    def line(self, commodity: str) -> StockLine:
        return self.stock.setdefault(commodity, StockLine(commodity, 0))

    def report_level(
        self, commodity: str, on_hand_kg: int, counted_at: datetime | None = None
    ) -> StockLine | None:
        """An absolute count from the depot; reservations already held stay held.

        Counts apply in the order they were taken, not the order they arrive: one taken before
        the count in force is stale (a report redelivered after a crash, or held up on the
        way, would otherwise overwrite a later count) and changes nothing; returns None then.
        """
        if on_hand_kg < 0:
            raise ReservesError(f"depot {self.depot_id}: negative count for {commodity}")
        line = self.line(commodity)
        if counted_at is not None:
            if line.counted_at is not None and counted_at < line.counted_at:
                return None
            line.counted_at = counted_at
        change = on_hand_kg - line.on_hand_kg
        if change > 0:
            line.adjusted_in_kg += change
        else:
            line.adjusted_out_kg -= change
        line.on_hand_kg = on_hand_kg
        return line

    def reserve(self, commodity: str, quantity_kg: int) -> Reserved | Rejected:
        """Hold stock for a plan; never below zero, all or nothing."""
        if quantity_kg <= 0:
            raise ReservesError(f"depot {self.depot_id}: reservation of {quantity_kg} kg")
        line = self.stock.get(commodity)
        available = line.available_kg if line else 0
        if self.status != "operational":
            return Rejected("depot_unavailable", 0, f"depot {self.depot_id} is {self.status}")
        if line is None or available < quantity_kg:
            return Rejected(
                "insufficient_stock",
                available,
                f"depot {self.depot_id} has {available} kg of {commodity} free, "
                f"{quantity_kg} kg asked",
            )
        line.reserved_kg += quantity_kg
        return Reserved(quantity_kg)

    def release(self, commodity: str, quantity_kg: int) -> None:
        line = self.line(commodity)
        if line.reserved_kg < quantity_kg:
            raise ReservesError(f"depot {self.depot_id}: releasing more {commodity} than reserved")
        line.reserved_kg -= quantity_kg

    def load(self, commodity: str, quantity_kg: int) -> int:
        """Reserved stock is loaded on a vehicle: it leaves the depot and is in transit.

        The vehicle's report is what physically happened: if a count since the reservation says
        less is on hand than was loaded, the count was short, and the difference is booked as
        found (an adjustment in, so the ledger still balances) rather than the report refused
        (refused, it was retried and dead-lettered, and the delivery after it too). Returns the
        kilograms found that way. Loading more than is reserved is still refused.
        """
        line = self.line(commodity)
        if quantity_kg <= 0 or line.reserved_kg < quantity_kg:
            raise ReservesError(
                f"depot {self.depot_id}: loading {quantity_kg} kg of {commodity} with "
                f"{line.reserved_kg} kg reserved and {line.on_hand_kg} kg on hand"
            )
        found = max(0, quantity_kg - line.on_hand_kg)
        line.on_hand_kg += found
        line.adjusted_in_kg += found
        line.reserved_kg -= quantity_kg
        line.on_hand_kg -= quantity_kg
        line.in_transit_kg += quantity_kg
        return found

    def deliver(self, commodity: str, quantity_kg: int) -> None:
        """Goods from this depot were handed over at a need."""
        line = self.line(commodity)
        if quantity_kg <= 0 or line.in_transit_kg < quantity_kg:
            raise ReservesError(
                f"depot {self.depot_id}: delivering {quantity_kg} kg of {commodity} with "
                f"{line.in_transit_kg} kg in transit"
            )
        line.in_transit_kg -= quantity_kg
        line.delivered_kg += quantity_kg

    def lose(self, cause: str = "") -> bool:
        """Mark the depot lost; returns False if it already was."""
        if self.status == "lost":
            return False
        self.status = "lost"
        self.lost_by = cause or None
        return True

    def restore(self, cause: str) -> bool:
        """The disruption that lost the depot was withdrawn: operational again, if it was that
        one (a depot lost otherwise, or by another disruption, stays lost)."""
        if self.status != "lost" or self.lost_by != cause:
            return False
        self.status = "operational"
        self.lost_by = None
        return True
