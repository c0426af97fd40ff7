"""Alembic environment of the transport service."""

from services.runtime.alembic_env import run
from services.transport.adapters.tables import metadata

run(metadata)
