"""Dispatcher HTTP API: raise a need, report a disruption, read needs and the current plan.

Writes publish the contract event on ``ingress.events`` (as any integrated system would) and
answer 202 with its id; reads come from dispatch's own tables.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from contracts import incidents as i
from contracts import streams
from contracts.envelope import Classification, Envelope
from services.dispatch.adapters import tables as t
from services.runtime.wire import encode, fields


class Accepted(BaseModel):
    event_id: str
    type: str


def build_api(
    sessions: async_sessionmaker[Any],
    redis: Redis,
    ingress: str = streams.INGRESS,
    mode: str = "live",
) -> FastAPI:
    api = FastAPI(title="Hinterland dispatch", version="1")

    async def publish(event: Envelope) -> Accepted:
        try:
            await redis.xadd(ingress, fields(encode(event)))  # type: ignore[arg-type]
        except Exception as exc:  # the bus is away: say so, publish nothing
            raise HTTPException(503, f"event bus unavailable: {exc}") from exc
        return Accepted(event_id=event.id, type=event.type)

    def envelope(subject: str, classification: Classification) -> dict[str, Any]:
        eid = str(uuid.uuid4())
        return {
            "id": eid,
            "source": "/hinterland/dispatch/http",
            "time": datetime.now(UTC),
            "subject": subject,
            "correlationid": eid,
            "mode": mode,
            "classification": classification,
        }

    @api.post("/needs", status_code=202, response_model=Accepted)
    async def raise_need(need: i.NeedRaised, classification: Classification = "public") -> Accepted:
        return await publish(i.NeedRaisedV1(**envelope(need.need_id, classification), data=need))

    @api.post("/disruptions", status_code=202, response_model=Accepted)
    async def report_disruption(
        disruption: i.DisruptionReported, classification: Classification = "public"
    ) -> Accepted:
        return await publish(
            i.DisruptionReportedV1(
                **envelope(disruption.disruption_id, classification), data=disruption
            )
        )

    @api.get("/plan")
    async def current_plan() -> dict[str, Any]:
        async with sessions() as session:
            version = await session.scalar(select(func.max(t.plans.c.version)))
            body = await session.scalar(select(t.plans.c.body).where(t.plans.c.version == version))
        if body is None:
            raise HTTPException(404, "no plan has been published yet")
        result: dict[str, Any] = json.loads(body)
        return result

    @api.get("/needs")
    async def needs() -> list[dict[str, Any]]:
        async with sessions() as session:
            rows = (await session.execute(select(t.needs).order_by(t.needs.c.need_id))).all()
        return [
            {
                "need_id": r.need_id,
                "node_id": r.node_id,
                "commodity": r.commodity,
                "quantity_kg": r.quantity_kg,
                "committed_kg": r.committed_kg,
                "priority": r.priority,
                "deadline": r.deadline.isoformat(),
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in rows
        ]

    @api.get("/health")
    async def health() -> dict[str, str]:
        await redis.ping()
        return {"status": "ok"}

    return api
