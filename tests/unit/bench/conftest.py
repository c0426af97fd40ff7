"""Shared fixtures of the benchmark harness tests: tiny hand-written instance files."""

from pathlib import Path

import pytest

from tests.unit.bench.samples import LILIM_TEXT, VRPLIB_TEXT


@pytest.fixture
def vrplib_file(tmp_path: Path) -> Path:
    path = tmp_path / "TINY.vrp"
    path.write_text(VRPLIB_TEXT)
    return path


@pytest.fixture
def lilim_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(LILIM_TEXT)
    return path
