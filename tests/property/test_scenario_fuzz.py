"""The scenario format under almost-valid YAML: a Scenario, or a ScenarioError with file:line.

Starting from the shipped smoke scenario, one thing is spoilt: a line dropped, duplicated or
re-indented, a value replaced by junk, a key misspelt, a field of the parsed document dropped
or given a value of the wrong type. ``parse_scenario`` must return a checked scenario or raise
``ScenarioError`` whose every problem starts with ``<file>:<line>:`` (one exception: a
document that is not a mapping at all has no line to name). Any other exception is a crash.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulations.scenario import SCENARIO_DIR, Scenario, ScenarioError, parse_scenario
from tests.property.documents import paths, set_at

FILE = "fuzz.yaml"
SMOKE = (SCENARIO_DIR / "smoke.yaml").read_text(encoding="utf-8")
LINES = SMOKE.splitlines()
DOC: Any = yaml.safe_load(SMOKE)
WHERE = re.compile(rf"^{re.escape(FILE)}:\d+: ")
NOT_A_MAPPING = f"{FILE}: expected a mapping of scenario fields at the top"

JUNK: Any = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


PATHS = paths(DOC)


@st.composite
def spoilt_text(draw: st.DrawFn) -> str:
    lines = list(LINES)
    i = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["drop", "duplicate", "indent", "junk value", "misspell", "chars"]))
    if how == "drop":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    elif how == "indent":
        lines[i] = " " * draw(st.integers(1, 5)) + lines[i]
    elif how == "junk value" and ":" in lines[i]:
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {draw(st.text(max_size=15))}"
    elif how == "misspell" and ":" in lines[i]:
        key, rest = lines[i].split(":", 1)
        lines[i] = f"{key}{draw(st.text(min_size=1, max_size=3))}:{rest}"
    else:
        j = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:j] + draw(st.text(max_size=4)) + lines[i][j:]
    return "\n".join(lines) + "\n"


@st.composite
def spoilt_document(draw: st.DrawFn) -> str:
    doc = yaml.safe_load(SMOKE)
    path = draw(st.sampled_from(PATHS))
    if draw(st.booleans()):
        set_at(doc, path, None, delete=True)
    else:
        set_at(doc, path, draw(JUNK))
    return str(yaml.safe_dump(doc, sort_keys=False))


def _check(text: str) -> None:
    problems: tuple[str, ...] | None = None
    try:
        scenario = parse_scenario(text, FILE)
    except ScenarioError as exc:
        problems = exc.problems
    if problems is not None:
        assert problems, "a ScenarioError must say what is wrong"
        for problem in problems:
            assert WHERE.match(problem) or problem == NOT_A_MAPPING, problem
        return
    assert isinstance(scenario, Scenario)
    assert scenario.events("fuzz")  # a scenario that parses also replays


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=spoilt_text())
def test_a_spoilt_line_gives_a_scenario_or_an_error_naming_file_and_line(text: str) -> None:
    _check(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=spoilt_document())
def test_a_spoilt_field_gives_a_scenario_or_an_error_naming_file_and_line(text: str) -> None:
    _check(text)


def test_the_shipped_smoke_scenario_parses() -> None:
    assert parse_scenario(SMOKE, FILE).name == "smoke"


@pytest.mark.parametrize(
    ("original", "spoilt"),
    [
        ("deadline_h: 24", "deadline_h: 69895482.0"),
        ("at_h: 1.0", "at_h: 1e300"),
    ],
    ids=["deadline_h out of the calendar", "at_h out of the calendar"],
)
def test_an_hour_count_past_the_calendar_is_a_scenario_error(original: str, spoilt: str) -> None:
    """Found by the fuzzing above: ``start + timedelta(hours=h)`` overflows (OverflowError)
    instead of a ScenarioError naming the field; hours need an upper bound (e.g. le=10*8760)."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(SMOKE.replace(original, spoilt), FILE)
    assert all(WHERE.match(p) for p in caught.value.problems), caught.value.problems
