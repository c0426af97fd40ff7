"""The only wiring point of the reserves service."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from contracts import streams
from contracts.catalogue import INGRESS_TYPES
from services.reserves.adapters import tables
from services.reserves.app.handlers import HANDLED, HOOKS, handle
from services.runtime.service import ServiceRuntime, ServiceSpec
from services.runtime.settings import ServiceSettings

INPUTS = (streams.INGRESS, streams.DISPATCH)

SPEC = ServiceSpec(
    name="reserves",
    metadata=tables.metadata,
    outbox=tables.outbox,
    inbox=tables.inbox,
    inputs=INPUTS,
    output=streams.RESERVES,
    handler=handle,
    handled_types={
        streams.INGRESS: HANDLED & INGRESS_TYPES,
        streams.DISPATCH: HANDLED - INGRESS_TYPES,
    },
    migrations=Path(__file__).parent / "migrations",
    lock_key=0x52535256,  # "RSRV": its readers apply one transaction at a time (EntryProcessor)
    hooks=HOOKS,
)


def create_runtime(settings: ServiceSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(SPEC, settings or ServiceSettings())


def create_app(settings: ServiceSettings | None = None) -> FastStream:
    """``faststream run services.reserves.bootstrap:create_app --factory``."""
    return create_runtime(settings).app()
