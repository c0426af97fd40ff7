"""Real headless Chromium (Debian's package) driven by Playwright's Python API.

No browser download: Playwright launches /usr/bin/chromium. The flags are the ones this
machine needs (no sandbox as root, no background networking: the network is closed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("HINTERLAND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = Path(__file__).resolve().parents[2] / "out" / "e2e"


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium "
            "(or set HINTERLAND_CHROMIUM); never `playwright install`"
        )
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it lives,
    and every later test that starts one of its own (asyncio.run) would fail beside it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright's Python API is missing: .venv/bin/pip install playwright")
    executable = _chromium()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where the browser tests leave their screenshots (out/ is git-ignored)."""
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT
