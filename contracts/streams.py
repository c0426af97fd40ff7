"""Stream and consumer-group names: one stream per producer, one group per consuming service."""

from typing import Final

INGRESS: Final = "ingress.events"
"""Where integrated systems and dispatchers publish alerts, needs, stock levels, vehicle status."""
RESERVES: Final = "reserves.events"
TRANSPORT: Final = "transport.events"
DISPATCH: Final = "dispatch.events"

ALL: Final = (INGRESS, RESERVES, TRANSPORT, DISPATCH)


def dead_letter(stream: str) -> str:
    """Name of the dead-letter stream beside ``stream``."""
    return f"{stream}.dead"


def namespaced(stream: str, namespace: str) -> str:
    """Stream name inside a namespace (exercise runs on live infrastructure use their own)."""
    return f"{namespace}:{stream}" if namespace else stream
