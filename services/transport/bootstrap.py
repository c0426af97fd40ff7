"""The only wiring point of the transport service."""

from __future__ import annotations

from pathlib import Path

from faststream import FastStream

from contracts import streams
from contracts.catalogue import INGRESS_TYPES
from services.runtime.service import ServiceRuntime, ServiceSpec
from services.runtime.settings import ServiceSettings
from services.transport.adapters import tables
from services.transport.app.handlers import HANDLED, handle

INPUTS = (streams.INGRESS, streams.DISPATCH)

SPEC = ServiceSpec(
    name="transport",
    metadata=tables.metadata,
    outbox=tables.outbox,
    inbox=tables.inbox,
    inputs=INPUTS,
    output=streams.TRANSPORT,
    handler=handle,
    handled_types={
        streams.INGRESS: HANDLED & INGRESS_TYPES,
        streams.DISPATCH: HANDLED - INGRESS_TYPES,
    },
    migrations=Path(__file__).parent / "migrations",
    lock_key=0x54524E53,  # "TRNS": its readers apply one transaction at a time (EntryProcessor)
)


def create_runtime(settings: ServiceSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(SPEC, settings or ServiceSettings())


def create_app(settings: ServiceSettings | None = None) -> FastStream:
    """``faststream run services.transport.bootstrap:create_app --factory``."""
    return create_runtime(settings).app()
