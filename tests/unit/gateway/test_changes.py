"""What changed between two plans, as the console shows it."""

from __future__ import annotations

from services.gateway.changes import plan_changes
from tests.unit.gateway.samples import plan


def test_a_cut_link_shows_the_rerouted_vehicle_and_the_need_whose_reason_changed() -> None:
    changes = plan_changes(plan(1), plan(2))
    assert changes.previous_plan_id == "P0001"
    assert changes.vehicles_rerouted == ["V-CIV"]
    assert changes.vehicles_added == changes.vehicles_removed == []
    # N-TENTS stays unserved, but now because it is cut off: that is worth saying.
    [tents] = changes.needs
    assert (tents.need_id, tents.before, tents.after) == ("N-TENTS", "unserved", "unserved")
    assert (tents.before_reason, tents.reason) == ("no_stock", "cut_off")


def test_needs_that_change_outcome_or_appear_are_listed_with_the_new_reason() -> None:
    before = plan(1)
    after = plan(2)
    tents = next(n for n in after.needs if n.need_id == "N-TENTS")
    after = after.model_copy(
        update={
            "needs": [
                *[n for n in after.needs if n.need_id not in {"N-TENTS", "N-MED"}],
                tents.model_copy(update={"status": "partial", "served_kg": 5_000}),
            ],
            "routes": after.routes[:1],
        }
    )
    changes = plan_changes(before, after)
    by_id = {c.need_id: c for c in changes.needs}
    assert by_id["N-TENTS"].before == "unserved"
    assert by_id["N-TENTS"].after == "partial"
    assert by_id["N-TENTS"].after_served_kg == 5_000
    assert by_id["N-MED"].after == "absent"
    assert changes.vehicles_removed == ["V-MIL"]
