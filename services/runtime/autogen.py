"""Developer tool: autogenerate a service's next migration against an empty SQLite database."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from services.runtime.migrate import alembic_config


def main(service: str, message: str) -> None:
    migrations = Path(__file__).parents[1] / service / "migrations"
    cfg = alembic_config(service, migrations)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/autogen.sqlite")
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            command.revision(cfg, message=message, autogenerate=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
