"""Expected outcomes: which needs a check is about, and how it is judged against deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from simulations.expectations import (
    Delivery,
    Expectation,
    ExpectationSpec,
    NeedOutcome,
    evaluate,
)

T0 = datetime(2026, 5, 12, 6, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def need(
    need_id: str,
    *,
    node: str = "N-yaan",
    region: str = "Sichuan",
    priority: str = "life_saving",
    commodity: str = "water",
    kg: int = 10_000,
    raised_h: float = 0.5,
    deadline_h: float = 12,
    deliveries: tuple[tuple[float, int], ...] = (),
) -> NeedOutcome:
    return NeedOutcome(
        need_id=need_id,
        node_id=node,
        region=region,
        priority=priority,
        commodity=commodity,
        requested_kg=kg,
        raised_at=h(raised_h),
        deadline=h(deadline_h),
        deliveries=tuple(Delivery(h(at), q) for at, q in deliveries),
    )


def expect(at_h: float = 0, **spec: Any) -> Expectation:
    spec.setdefault("id", "EXP-1")
    return Expectation(spec=ExpectationSpec.model_validate(spec), at=h(at_h), inject="DIS-1")


def judge(e: Expectation, *needs: NeedOutcome, end: datetime | None = None) -> Any:
    [result] = evaluate([e], needs, end=end)
    return result


def test_all_needs_served_within_the_window_is_met() -> None:
    result = judge(
        expect(needs={"priority": "life_saving"}, within_h=12),
        need("A", deliveries=((3, 10_000),)),
        need("B", deliveries=((5, 4_000), (11.5, 6_000))),
    )
    assert result.met
    assert result.served_fraction == 1.0
    assert result.needs == ("A", "B")
    assert result.inject == "DIS-1"
    assert "2 of 2 needs fully served" in result.actual


def test_a_delivery_after_the_window_does_not_count() -> None:
    result = judge(
        expect(within_h=12),
        need("A", deliveries=((3, 10_000),)),
        need("B", deliveries=((12.5, 10_000),)),
    )
    assert not result.met
    assert result.served_fraction == pytest.approx(0.5)
    assert "50%" in result.actual
    assert "B 0%" in result.actual


def test_the_threshold_is_a_share_of_the_requested_mass() -> None:
    needs = (need("A", kg=8_000, deliveries=((1, 8_000),)), need("B", kg=2_000))
    assert judge(expect(served_fraction_at_least=0.8, within_h=12), *needs).met
    assert not judge(expect(served_fraction_at_least=0.81, within_h=12), *needs).met


def test_over_delivery_to_one_need_does_not_make_up_for_another() -> None:
    result = judge(
        expect(served_fraction_at_least=0.5, within_h=12),
        need("A", kg=1_000, deliveries=((1, 5_000),)),
        need("B", kg=9_000),
    )
    assert result.served_fraction == pytest.approx(0.1)
    assert not result.met


def test_only_matching_needs_are_in_scope() -> None:
    e = expect(
        needs={"priority": ["life_saving"], "node_ids": ["N-yaan"], "commodity": "water"},
        within_h=12,
    )
    result = judge(
        e,
        need("IN", deliveries=((1, 10_000),)),
        need("OTHER-NODE", node="N-baoxing"),
        need("OTHER-PRIORITY", priority="routine"),
        need("OTHER-COMMODITY", commodity="tents"),
    )
    assert result.needs == ("IN",)
    assert result.met


def test_region_selects_by_province() -> None:
    result = judge(
        expect(needs={"region": "Gansu"}, within_h=12),
        need("SICHUAN"),
        need("GANSU", node="N-lanzhou", region="Gansu", deliveries=((2, 10_000),)),
    )
    assert result.needs == ("GANSU",)
    assert result.met


def test_needs_raised_before_the_inject_are_out_of_scope_unless_named() -> None:
    early = need("EARLY", raised_h=1, deliveries=((3, 10_000),))
    late = need("LATE", raised_h=2.5)
    by_filter = judge(expect(at_h=2, within_h=6), early, late)
    assert by_filter.needs == ("LATE",)
    assert not by_filter.met
    by_name = judge(expect(at_h=2, needs={"need_ids": ["EARLY"]}, within_h=6), early, late)
    assert by_name.needs == ("EARLY",)
    assert by_name.met


def test_raised_within_h_bounds_the_scope_inclusively() -> None:
    e = expect(needs={"raised_within_h": 1}, within_h=12)
    result = judge(e, need("AT-1H", raised_h=1), need("AFTER", raised_h=1.25))
    assert result.needs == ("AT-1H",)


def test_by_deadline_counts_each_need_only_up_to_its_own_deadline() -> None:
    needs = (
        need("A", deadline_h=4, deliveries=((3, 10_000),)),
        need("B", deadline_h=4, deliveries=((5, 10_000),)),
    )
    assert judge(expect(within_h=12), *needs).met
    result = judge(expect(by_deadline=True), *needs)
    assert not result.met
    assert result.served_fraction == pytest.approx(0.5)
    assert "deadline" in result.expected


def test_without_within_h_deliveries_count_up_to_the_end_of_the_run() -> None:
    a = need("A", deliveries=((40, 10_000),))
    assert judge(expect(served_fraction_at_least=1.0), a).met
    assert judge(expect(served_fraction_at_least=1.0), a, end=h(48)).met
    assert not judge(expect(served_fraction_at_least=1.0), a, end=h(24)).met


def test_first_delivery_check() -> None:
    e = expect(first_delivery_within_h=4)
    on_time = judge(e, need("A", deliveries=((3.5, 1),)), need("B", deliveries=((9, 10_000),)))
    assert on_time.met
    assert on_time.first_delivery_h == pytest.approx(3.5)
    assert "+3.5 h (A)" in on_time.actual
    assert on_time.served_fraction is None
    late = judge(e, need("A", deliveries=((4.5, 10_000),)))
    assert not late.met
    nothing = judge(e, need("A"))
    assert not nothing.met
    assert nothing.first_delivery_h is None
    assert "no delivery" in nothing.actual


def test_both_checks_must_hold() -> None:
    e = expect(within_h=12, first_delivery_within_h=2)
    assert not judge(e, need("A", deliveries=((3, 10_000),))).met
    assert judge(e, need("A", deliveries=((1, 10_000),))).met


def test_an_expectation_with_no_need_in_scope_is_not_met() -> None:
    result = judge(expect(needs={"node_ids": ["N-danba"]}, within_h=12), need("A"))
    assert not result.met
    assert result.needs == ()
    assert "no need in scope" in result.actual


def test_results_keep_the_order_and_ids_of_the_expectations() -> None:
    es = [expect(id="EXP-B", within_h=1), expect(id="EXP-A", first_delivery_within_h=1)]
    results = evaluate(es, [need("A", deliveries=((0.75, 10_000),))])
    assert [(r.id, r.met) for r in results] == [("EXP-B", True), ("EXP-A", True)]
    assert results[0].at == T0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"id": "E"}, "say what to check"),
        ({"id": "E", "within_h": 0}, "greater than 0"),
        ({"id": "E", "served_fraction_at_least": 1.5}, "less than or equal to 1"),
        ({"id": "E", "within_h": 1, "needs": {"priority": "urgent"}}, "life_saving"),
        ({"id": "E", "within_h": 1, "needs": {"nodes": ["N-yaan"]}}, "Extra inputs"),
        ({"id": "E", "within_h": 1, "served": 1}, "Extra inputs"),
    ],
)
def test_a_malformed_expectation_is_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExpectationSpec.model_validate(spec)
