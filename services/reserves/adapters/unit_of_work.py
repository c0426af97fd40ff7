"""The depots one transaction works on: each read and locked once, written back once."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from services.reserves.adapters import sql
from services.reserves.domain.model import Depot

_KEY = "reserves.unit_of_work"


class UnitOfWork:
    """Depots loaded (and row-locked) in this transaction, and which of their rows changed.

    Kept in the session's ``info``, so every handler of the transaction shares it. Holding the
    depot's row lock from the first load to the commit makes the depot in memory the current
    one, however many events change it. ``deferred`` (set by the prefetch hook, whose
    before_commit partner will write): changes wait for the end of the transaction; otherwise
    the handler writes them after each event.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.deferred = False
        self._depots: dict[str, Depot | None] = {}
        self._rows: set[str] = set()
        self._lines: set[tuple[str, str]] = set()

    @classmethod
    def of(cls, session: AsyncSession) -> UnitOfWork:
        uow = session.info.get(_KEY)
        if uow is None:
            uow = session.info[_KEY] = cls(session)
        return uow

    @classmethod
    def take(cls, session: AsyncSession) -> UnitOfWork | None:
        """The session's unit of work, removed from it (the transaction is ending)."""
        return session.info.pop(_KEY, None)  # type: ignore[no-any-return]

    async def load(self, depot_ids: Iterable[str]) -> None:
        """Lock and load, in one statement each for depots and stock, those not loaded yet."""
        missing = set(depot_ids) - self._depots.keys()
        if missing:
            found = await sql.load_depots(self.session, missing)
            for depot_id in missing:
                self._depots[depot_id] = found.get(depot_id)

    async def depot(self, depot_id: str) -> Depot | None:
        await self.load([depot_id])
        return self._depots[depot_id]

    def depot_changed(self, depot: Depot) -> None:
        """The depot's own row changed (or the depot is new)."""
        self._depots[depot.depot_id] = depot
        self._rows.add(depot.depot_id)

    def line_changed(self, depot: Depot, commodity: str) -> None:
        depot.line(commodity)  # a line first touched by this change exists from now on
        self._lines.add((depot.depot_id, commodity))

    async def depots_at(self, node_ids: list[str]) -> list[str]:
        await self.flush()  # the query reads depot rows: it must see this transaction's
        return await sql.depots_at(self.session, node_ids)

    async def depots_lost_by(self, cause: str) -> list[str]:
        await self.flush()
        return await sql.depots_lost_by(self.session, cause)

    async def flush(self) -> None:
        """Write the changed depot rows, then the changed stock lines: one statement each."""
        rows, lines = sorted(self._rows), sorted(self._lines)
        self._rows.clear()
        self._lines.clear()
        depots = {depot_id: d for depot_id, d in self._depots.items() if d is not None}
        await sql.save_depots(self.session, [depots[depot_id] for depot_id in rows])
        await sql.save_lines(
            self.session,
            [(depot_id, depots[depot_id].stock[commodity]) for depot_id, commodity in lines],
        )
