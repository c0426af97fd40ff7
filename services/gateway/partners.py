"""What the standards adapters need from the gateway's host: the network they mark areas on,
where EDXL-RM threads are kept, and the EDXL-RM messages rendered from bus events.

The network comes from dispatch's read model (read only). Threads and rendered messages live
in the gateway's own tables (``gateway_edxl_threads``, ``gateway_edxl_outbound``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.dispatch import DispatchOrderIssued, DispatchOrderIssuedV1
from contracts.envelope import Classification, Envelope
from contracts.execution import OrderProgressReportedV1
from services.dispatch.adapters import tables as t
from services.gateway import tables as g
from services.runtime.sql import upsert
from services.standards.edxl_rm import OutboundMessage, commit_for_order, deployment_status
from services.standards.network import Network
from services.standards.threads import NeedThread


async def network_snapshot(session: AsyncSession) -> Network:
    """Every node, link and depot site dispatch knows, whatever its state: an alert may
    name a link that is already closed, and closing it again changes nothing."""
    nodes = await session.execute(select(t.nodes.c.node_id, t.nodes.c.lat, t.nodes.c.lon))
    links = await session.execute(
        select(t.links.c.link_id, t.links.c.a, t.links.c.b, t.links.c.mode)
    )
    depots = await session.execute(select(t.depots.c.depot_id, t.depots.c.node_id))
    return Network.from_plain(
        nodes=[r._asdict() for r in nodes],
        links=[r._asdict() for r in links],
        depots=[r._asdict() for r in depots],
    )


def _thread(row: Any) -> NeedThread:
    return NeedThread(
        need_id=row.need_id,
        originating_message_id=row.originating_message_id,
        last_message_id=row.last_message_id,
        resource_info_element_id=row.resource_info_element_id,
        incident_id=row.incident_id,
    )


async def load_threads(session: AsyncSession, need_ids: Iterable[str]) -> dict[str, NeedThread]:
    wanted = sorted(set(need_ids))
    if not wanted:
        return {}
    rows = await session.execute(select(g.edxl_threads).where(g.edxl_threads.c.need_id.in_(wanted)))
    return {r.need_id: _thread(r) for r in rows}


async def save_threads(session: AsyncSession, threads: Sequence[NeedThread]) -> None:
    now = datetime.now(UTC)
    for th in threads:
        await upsert(
            session,
            g.edxl_threads,
            {"need_id": th.need_id},
            {
                "originating_message_id": th.originating_message_id,
                "last_message_id": th.last_message_id,
                "resource_info_element_id": th.resource_info_element_id,
                "incident_id": th.incident_id,
                "updated_at": now,
            },
        )


class SqlThreadStore:
    """The standards adapters' ``ThreadStore`` port on ``gateway_edxl_threads``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get_many(self, need_ids: Iterable[str]) -> Mapping[str, NeedThread]:
        async with self._sessions() as session:
            return await load_threads(session, need_ids)

    async def save(self, threads: Sequence[NeedThread]) -> None:
        async with self._sessions() as session, session.begin():
            await save_threads(session, threads)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One EDXL-RM message sent to partners, and the bus event it renders."""

    message_id: str
    message_type: str
    event_id: str
    classification: Classification
    xml: str


class OutboundRenderer:
    """EDXL-RM out: CommitResource for ``dispatch_order_issued``, ReportResourceDeployment-
    Status for ``order_progress_reported``, for the needs that came in over EDXL-RM.

    Each event is rendered once and the result kept (``gateway_edxl_outbound``), together
    with the threads it advances, in one transaction: every subscriber gets the same
    messages, and a message never cites itself as its PrecedingMessageID. A thread cites
    what was actually rendered before, i.e. sent to a subscriber.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def render(self, event: Envelope) -> list[RenderedMessage]:
        if not isinstance(event, DispatchOrderIssuedV1 | OrderProgressReportedV1):
            return []
        stored = await self._stored(event.id)
        if stored:
            return stored
        try:
            async with self._sessions() as session, session.begin():
                built = await self._build(session, event)
                if not built:
                    return []
                now = datetime.now(UTC)
                await session.execute(
                    insert(g.edxl_outbound),
                    [
                        {
                            "message_id": m.message_id,
                            "event_id": event.id,
                            "seq": n,
                            "message_type": m.message_type,
                            "classification": event.classification,
                            "xml": m.xml.decode(),
                            "created_at": now,
                        }
                        for n, m in enumerate(built)
                    ],
                )
                await save_threads(session, [th for m in built for th in m.threads])
        except IntegrityError:  # another subscriber rendered it first: theirs is the one sent
            return await self._stored(event.id)
        return [
            RenderedMessage(
                m.message_id, m.message_type, event.id, event.classification, m.xml.decode()
            )
            for m in built
        ]

    async def _stored(self, event_id: str) -> list[RenderedMessage]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(g.edxl_outbound)
                .where(g.edxl_outbound.c.event_id == event_id)
                .order_by(g.edxl_outbound.c.seq)
            )
            return [
                RenderedMessage(r.message_id, r.message_type, r.event_id, r.classification, r.xml)
                for r in rows
            ]

    async def _build(
        self, session: AsyncSession, event: DispatchOrderIssuedV1 | OrderProgressReportedV1
    ) -> list[OutboundMessage]:
        if isinstance(event, DispatchOrderIssuedV1):
            order = event.data
            need_ids = [s.need_id for s in order.stops if s.action == "unload" and s.need_id]
            threads = await load_threads(session, need_ids)
            return commit_for_order(order, threads, sent=event.time) if threads else []
        progress = event.data
        need_ids = [c.need_id for c in progress.cargo]
        known: DispatchOrderIssued | None = None
        if progress.stage == "completed":  # carries no cargo: the order says which needs
            body = await session.scalar(
                select(t.orders.c.body).where(t.orders.c.order_id == progress.order_id)
            )
            if body is not None:
                known = DispatchOrderIssued.model_validate_json(body)
                need_ids += [s.need_id for s in known.stops if s.action == "unload" and s.need_id]
        threads = await load_threads(session, need_ids)
        if not threads:
            return []
        return deployment_status(progress, threads, sent=event.time, cause_id=event.id, order=known)
