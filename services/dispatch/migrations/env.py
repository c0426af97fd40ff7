"""Alembic environment of the dispatch service."""

from services.dispatch.adapters.tables import metadata
from services.runtime.alembic_env import run

run(metadata)
