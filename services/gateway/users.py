"""Gateway users: created by an administrator, passwords kept as scrypt hashes.

``python -m services.gateway.users create NAME --role dispatcher --clearance public`` creates
one in the database named by ``HINTERLAND_DATABASE_URL`` and ``HINTERLAND_DB_SCHEMA`` (the
password is read from the terminal, or from standard input with ``--password-stdin``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.envelope import Classification
from services.gateway import tables as g
from services.gateway.security import ROLES, Principal, Role, hash_password
from services.runtime import db, migrate

MIGRATIONS = Path(__file__).parent / "migrations"


class UserExists(Exception):
    pass


async def migrate_gateway(engine: AsyncEngine) -> None:
    """Bring the gateway's own tables up to date (version table ``gateway_alembic_version``)."""
    await migrate.upgrade(engine, "gateway", MIGRATIONS)


def _check(roles: Iterable[str], clearance: str) -> tuple[list[Role], Classification]:
    checked: list[Role] = []
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        checked.append(role)
    if not checked:
        raise ValueError("a user needs at least one role")
    if clearance not in get_args(Classification):
        raise ValueError(f"unknown clearance {clearance!r}: public, restricted or military")
    return checked, clearance  # type: ignore[return-value]


async def create_user(
    sessions: async_sessionmaker[Any],
    username: str,
    password: str,
    roles: Iterable[str],
    clearance: str = "public",
) -> Principal:
    """Create a user; ``UserExists`` if the name is taken, ``ValueError`` for bad input."""
    checked, level = _check(roles, clearance)
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    hashed = await asyncio.to_thread(hash_password, password)  # ~50 ms of scrypt
    async with sessions() as session, session.begin():
        if await session.scalar(select(g.users.c.username).where(g.users.c.username == username)):
            raise UserExists(f"user {username!r} already exists")
        await session.execute(
            insert(g.users).values(
                username=username,
                password_hash=hashed,
                roles=",".join(sorted(set(checked))),
                clearance=level,
                active=True,
                created_at=datetime.now(UTC),
            )
        )
    return Principal(username, frozenset(checked), level)


async def load_user(session: AsyncSession, username: str) -> tuple[Principal, str] | None:
    """The active user named ``username`` and their password hash, or None."""
    row = (await session.execute(select(g.users).where(g.users.c.username == username))).first()
    if row is None or not row.active:
        return None
    roles: frozenset[Role] = frozenset(r for r in row.roles.split(",") if r in ROLES)
    return Principal(row.username, roles, row.clearance), row.password_hash


async def _create_from_cli(
    url: str, schema: str, args: argparse.Namespace, password: str
) -> Principal:
    engine = db.create_engine(url, schema)
    try:
        await db.ensure_schema(engine, schema)
        await migrate_gateway(engine)
        return await create_user(
            db.session_factory(engine), args.username, password, args.role, args.clearance
        )
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    from services.runtime.settings import ServiceSettings

    parser = argparse.ArgumentParser(prog="python -m services.gateway.users")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="Create a user.")
    create.add_argument("username")
    create.add_argument("--role", action="append", required=True, choices=ROLES)
    create.add_argument("--clearance", default="public", choices=get_args(Classification))
    create.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
    settings = ServiceSettings()  # HINTERLAND_DATABASE_URL and HINTERLAND_DB_SCHEMA
    try:
        user = asyncio.run(
            _create_from_cli(settings.database_url, settings.db_schema, args, password)
        )
    except (ValueError, UserExists) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"created {user.username}: {sorted(user.roles)}, clearance {user.clearance}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
