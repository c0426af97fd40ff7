"""Alembic environment of the reserves service."""

from services.reserves.adapters.tables import metadata
from services.runtime.alembic_env import run

run(metadata)
