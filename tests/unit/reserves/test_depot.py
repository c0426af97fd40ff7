"""Depot rules: reservations never take stock below zero, and lost depots give nothing."""

from datetime import UTC, datetime

import pytest

from services.reserves.domain.model import Depot, Rejected, Reserved, ReservesError


def depot(**stock: int) -> Depot:
    d = Depot("D-1", "Depot one", "N-1", "county", "civil")
    for commodity, kg in stock.items():
        d.report_level(commodity, kg)
    return d


def test_a_reservation_within_the_free_stock_is_held() -> None:
    d = depot(water=1000)
    assert d.reserve("water", 600) == Reserved(600)
    line = d.stock["water"]
    assert (line.on_hand_kg, line.reserved_kg, line.available_kg) == (1000, 600, 400)


def test_a_reservation_beyond_the_free_stock_is_rejected_showing_what_is_available() -> None:
    d = depot(water=1000)
    d.reserve("water", 600)
    outcome = d.reserve("water", 500)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "insufficient_stock"
    assert outcome.available_kg == 400
    assert "400 kg" in outcome.detail
    assert "500 kg" in outcome.detail
    assert d.stock["water"].reserved_kg == 600


def test_the_reserve_never_goes_below_zero_however_many_reservations_arrive() -> None:
    d = depot(tents=1000)
    outcomes = [d.reserve("tents", 300) for _ in range(5)]
    assert sum(isinstance(o, Reserved) for o in outcomes) == 3
    line = d.stock["tents"]
    assert line.reserved_kg == 900
    assert line.on_hand_kg - line.reserved_kg >= 0


def test_a_commodity_the_depot_never_held_is_rejected_with_nothing_available() -> None:
    outcome = depot(water=1000).reserve("medical", 1)
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.available_kg) == ("insufficient_stock", 0)


def test_a_lost_depot_rejects_every_reservation() -> None:
    d = depot(water=1000)
    assert d.lose() is True
    outcome = d.reserve("water", 10)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "depot_unavailable"
    assert outcome.available_kg == 0
    assert d.stock["water"].reserved_kg == 0


def test_losing_a_depot_twice_reports_no_change_the_second_time() -> None:
    d = depot()
    assert d.lose() is True
    assert d.lose() is False
    assert d.status == "lost"


def test_loading_moves_reserved_stock_off_hand_and_into_transit() -> None:
    d = depot(water=1000)
    d.reserve("water", 600)
    d.load("water", 600)
    line = d.stock["water"]
    assert (line.on_hand_kg, line.reserved_kg, line.available_kg) == (400, 0, 400)
    assert line.in_transit_kg == 600


def test_loading_more_than_reserved_raises_reserves_error() -> None:
    d = depot(water=1000)
    d.reserve("water", 100)
    with pytest.raises(ReservesError, match="loading 200 kg of water with 100 kg reserved"):
        d.load("water", 200)


def test_delivering_more_than_in_transit_raises_reserves_error() -> None:
    d = depot(water=1000)
    d.reserve("water", 100)
    d.load("water", 100)
    with pytest.raises(ReservesError, match="100 kg in transit"):
        d.deliver("water", 150)


def test_the_ledger_balances_through_counts_loads_and_deliveries() -> None:
    d = Depot("D-1", "Depot", "N-1", "county", "civil")
    d.report_level("water", 1000)
    d.reserve("water", 700)
    d.load("water", 500)
    d.deliver("water", 300)
    d.report_level("water", 450)  # a recount finds 50 kg fewer than the books say
    d.report_level("water", 480)  # and a later one 30 kg more
    line = d.stock["water"]
    assert (line.adjusted_in_kg, line.adjusted_out_kg) == (1030, 50)
    assert (line.on_hand_kg, line.in_transit_kg, line.delivered_kg) == (480, 200, 300)
    assert line.balanced
    line.delivered_kg += 1  # a double-applied delivery would show
    assert not line.balanced


def test_release_gives_the_reserved_stock_back() -> None:
    d = depot(water=1000)
    d.reserve("water", 600)
    d.release("water", 600)
    line = d.stock["water"]
    assert (line.on_hand_kg, line.reserved_kg, line.available_kg) == (1000, 0, 1000)
    assert d.reserve("water", 1000) == Reserved(1000)


def test_releasing_more_than_reserved_raises_reserves_error() -> None:
    d = depot(water=1000)
    d.reserve("water", 100)
    with pytest.raises(ReservesError, match="more water than reserved"):
        d.release("water", 101)


@pytest.mark.parametrize("quantity_kg", [0, -1, -500])
def test_reserving_zero_or_a_negative_quantity_raises_reserves_error(quantity_kg: int) -> None:
    d = depot(water=1000)
    with pytest.raises(ReservesError, match=str(quantity_kg)):
        d.reserve("water", quantity_kg)
    assert d.stock["water"].reserved_kg == 0


def test_a_new_count_below_the_reserved_amount_shows_nothing_available() -> None:
    d = depot(water=1000)
    d.reserve("water", 800)
    d.report_level("water", 500)
    line = d.stock["water"]
    assert (line.on_hand_kg, line.reserved_kg, line.available_kg) == (500, 800, 0)
    rejected = d.reserve("water", 1)
    assert isinstance(rejected, Rejected)
    assert rejected.available_kg == 0


def test_a_negative_stock_count_raises_reserves_error() -> None:
    with pytest.raises(ReservesError, match="negative count"):
        depot().report_level("water", -1)


def test_a_depot_comes_back_only_when_the_disruption_that_lost_it_is_withdrawn() -> None:
    d = depot()
    assert d.lose("DIS-QUAKE") is True
    assert d.restore("DIS-OTHER") is False
    assert d.status == "lost"
    assert d.restore("DIS-QUAKE") is True
    assert (d.status, d.lost_by) == ("operational", None)
    assert d.restore("DIS-QUAKE") is False  # withdrawn twice: nothing more to do


def test_a_count_taken_before_the_count_in_force_is_stale_and_changes_nothing() -> None:
    d = depot()
    at = [datetime(2026, 5, 12, 6, minute, tzinfo=UTC) for minute in range(4)]
    assert d.report_level("water", 500, at[2]) is not None
    assert d.report_level("water", 900, at[1]) is None  # taken earlier, arrived later
    line = d.stock["water"]
    assert (line.on_hand_kg, line.adjusted_in_kg, line.counted_at) == (500, 500, at[2])
    assert d.report_level("water", 450, at[2]) is not None  # same moment: the later arrival
    assert d.report_level("water", 480, at[3]) is not None
    assert (line.on_hand_kg, line.adjusted_in_kg, line.adjusted_out_kg) == (480, 530, 50)
    assert d.report_level("water", 100) is not None  # no time given: always applies
    assert line.on_hand_kg == 100


def test_a_load_beyond_a_short_recount_books_the_difference_as_found() -> None:
    """A recount below what is reserved does not make the vehicle's load report impossible:
    the vehicle did load; the count was short by the difference."""
    d = depot(water=1000)
    d.reserve("water", 800)
    d.report_level("water", 300)  # a recount finds 300 kg; 800 kg stay reserved
    assert d.load("water", 800) == 500
    line = d.stock["water"]
    assert (line.on_hand_kg, line.reserved_kg, line.in_transit_kg) == (0, 0, 800)
    assert (line.adjusted_in_kg, line.adjusted_out_kg) == (1500, 700)
    assert line.balanced
