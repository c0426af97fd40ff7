"""Walking and spoiling nested JSON/YAML documents, shared by the fuzzing tests."""

from __future__ import annotations

from typing import Any


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path into ``doc`` (the root itself excluded)."""
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def set_at(doc: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    """Replace (or, with ``delete``, remove) what ``path`` names inside ``doc``."""
    for part in path[:-1]:
        doc = doc[part]
    if delete:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value
