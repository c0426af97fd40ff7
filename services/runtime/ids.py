"""Deterministic event ids: derived from the cause, so a replay produces the same ids."""

from __future__ import annotations

import uuid
from typing import Final

NAMESPACE: Final = uuid.UUID("5b1f0c4e-2f67-4d1c-9a55-6a2f0f3b7c10")


def derived_id(cause: str, *parts: object) -> str:
    """Stable id for the n-th thing produced because of ``cause``."""
    return str(uuid.uuid5(NAMESPACE, ":".join([cause, *map(str, parts)])))
