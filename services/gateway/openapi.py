"""The committed OpenAPI document: ``python -m services.gateway.openapi [docs/openapi.json]``.

A test rebuilds it and fails if the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.api import build_api
from services.gateway.settings import GatewaySettings

DEFAULT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, built without touching a database or Redis."""
    engine = create_async_engine("sqlite+aiosqlite://")  # never connected: routes only
    api = build_api(
        engine, Redis(), GatewaySettings(mode="exercise", token_secret=None), exercise=None
    )
    return api.openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def write(path: Path = DEFAULT) -> Path:
    path.write_text(render())
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))  # noqa: T201
