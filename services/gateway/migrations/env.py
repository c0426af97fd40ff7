"""Alembic environment of the gateway."""

from services.gateway.tables import metadata
from services.runtime.alembic_env import run

run(metadata)
