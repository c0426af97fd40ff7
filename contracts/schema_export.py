"""JSON Schema export of every published event version (one file per type)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.catalogue import EVENT_CLASSES, type_name


def schemas() -> dict[str, dict[str, Any]]:
    """Type name -> JSON Schema of the whole envelope for that type."""
    return {type_name(c): c.model_json_schema() for c in EVENT_CLASSES}


def export(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
