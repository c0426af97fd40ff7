"""Event ids derived from their cause: the fast path must give uuid5's ids exactly."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.runtime.ids import NAMESPACE, derived_id


@given(st.text(), st.lists(st.one_of(st.text(), st.integers()), max_size=3))
def test_derived_ids_are_uuid5_of_the_cause_and_parts(cause: str, parts: list[object]) -> None:
    expected = uuid.uuid5(NAMESPACE, ":".join([cause, *map(str, parts)]))
    assert derived_id(cause, *parts) == str(expected)


def test_a_derived_id_stored_by_an_earlier_version_still_matches() -> None:
    assert derived_id("evt-1", "/hinterland/reserves", 0) == str(
        uuid.uuid5(
            uuid.UUID("5b1f0c4e-2f67-4d1c-9a55-6a2f0f3b7c10"), "evt-1:/hinterland/reserves:0"
        )
    )
