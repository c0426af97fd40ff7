"""Alembic environment of the transport service."""

from services.transport.adapters.tables import metadata
from services.runtime.alembic_env import run

run(metadata)
