"""Schemathesis against the gateway's own OpenAPI document: no 500, whatever the input.

The app runs in uvicorn on a thread of its own (its own event loop, its SQLite database and
in-process Redis seeded with a small world), and every documented operation is called with
generated requests, as an admin with every role and military clearance, so that requests get
past authentication and exercise the handlers. The live streams (SSE) are left out: they never
end by design.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from services.dispatch.bootstrap import SPEC
from services.gateway.api import build_api
from services.gateway.security import ROLES
from services.gateway.settings import GatewaySettings
from services.gateway.users import create_user, migrate_gateway
from services.runtime import db, migrate
from services.runtime.bus import redis_client
from tests.conftest import free_port
from tests.unit.gateway.samples import seed_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SECRET = "schemathesis-secret-0123456789abcdef0123"
PASSWORD = "fuzz-password-123"


def _serve(tmp: Path, port: int, ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        engine = db.create_engine(f"sqlite+aiosqlite:///{tmp / 'gateway.sqlite'}")
        await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
        await migrate_gateway(engine)
        sessions = db.session_factory(engine)
        async with sessions() as session, session.begin():
            await seed_world(session)
        await create_user(sessions, "fuzz", PASSWORD, sorted(ROLES), "military")
        redis = redis_client(f"memory://schemathesis-{port}")
        settings_ = GatewaySettings(mode="live", token_secret=SECRET)
        app = build_api(engine, redis, settings_)
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
        task = asyncio.create_task(server.serve())
        await asyncio.to_thread(_until_started, server)
        ready.set()
        await asyncio.to_thread(stop.wait)
        server.should_exit = True
        await task
        await engine.dispose()

    asyncio.run(main())


def _until_started(server: uvicorn.Server) -> None:
    for _ in range(600):
        if server.started:
            return
        threading.Event().wait(0.05)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=_serve, args=(tmp_path_factory.mktemp("api"), port, ready, stop), daemon=True
    )
    thread.start()
    assert ready.wait(60), "the gateway did not start"
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(30)


@pytest.fixture(scope="module")
def token(base_url: str) -> str:
    r = httpx.post(f"{base_url}/login/token", data={"username": "fuzz", "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


def test_no_generated_request_makes_the_api_fail(base_url: str, token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").exclude(path_regex="stream")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures: list[str] = []
    statuses: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=20)
            statuses.append((case.path, response.status_code))
            # 503 with its reason is an answer (no exercise controller here); 500 never is.
            if response.status_code == 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
            elif response.status_code >= 400 and not response.json().get("detail"):
                failures.append(f"{case.method} {case.formatted_path}: unexplained refusal")

        call()
    assert not failures, sorted(set(failures))
    # The token got the requests past authentication, into the handlers.
    assert sum(200 <= code < 300 for _, code in statuses) > len(operations)
    assert [p for p, code in statuses if code == 401 and p != "/login/token"] == []
