"""The AsyncAPI document, generated from the three services' FastStream brokers."""

from __future__ import annotations

from typing import Any

from faststream.specification import AsyncAPI

from services.dispatch.bootstrap import create_runtime as dispatch_runtime
from services.dispatch.settings import DispatchSettings
from services.reserves.bootstrap import create_runtime as reserves_runtime
from services.runtime.settings import ServiceSettings
from services.transport.bootstrap import create_runtime as transport_runtime

DESCRIPTION = (
    "Every stream entry has one field, `event`, holding a CloudEvents 1.0 JSON envelope "
    "(structured mode) whose `type` names the event and its version. Integrated systems "
    "publish with a plain `XADD ingress.events * event '<json>'`."
)


def asyncapi_document() -> dict[str, Any]:
    # Building the runtimes opens nothing: engines and clients connect lazily.
    settings: dict[str, Any] = {
        "database_url": "sqlite+aiosqlite:///:memory:",
        "consumer_name": "docs",
    }
    runtimes = [
        reserves_runtime(ServiceSettings(**settings)),
        transport_runtime(ServiceSettings(**settings)),
        dispatch_runtime(DispatchSettings(**settings))[0],
    ]
    spec = AsyncAPI(
        *(rt.broker for rt in runtimes),
        title="Hinterland events",
        version="1",
        description=DESCRIPTION,
        schema_version="3.0.0",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document
