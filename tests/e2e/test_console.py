"""The web console in real headless Chromium against the real services.

reserves, transport and dispatch run as OS processes (``hinterland serve``) on the real Redis
and PostgreSQL; dispatch serves the API and console. The world is the smoke scenario's plus a
military depot, truck and need; needs are raised through the typed client, the rest in the
browser: log in, cut a link on the map, see the new plan, approve it; an observer cannot
approve; a civil user never sees a military leg.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
import uvicorn

from contracts.envelope import Envelope
from contracts.incidents import NeedRaised
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    StockLevelReported,
    StockLevelReportedV1,
)
from contracts.transport import AssetRegistered, AssetRegisteredV1
from services.client import HinterlandClient
from services.dispatch.bootstrap import SPEC
from services.gateway.api import build_api
from services.gateway.settings import GatewaySettings
from services.gateway.users import create_user, migrate_gateway
from services.runtime import db, migrate
from services.runtime.wire import encode
from simulations.scenario import load_scenario
from tests.conftest import free_port, sync_database_url, with_database
from tests.integration.processes import HINTERLAND, ServiceProcess, eventually
from tests.unit.gateway.samples import seed_world

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

SECRET = "e2e-secret-0123456789abcdef0123456789"
PASSWORD = "tired-dispatcher-1"
CUT = "L-road-chengdu-yaan"
USERS = {
    "dora": (["dispatcher"], "public"),  # civil dispatcher
    "mara": (["dispatcher"], "military"),
    "olga": (["observer"], "military"),
}
WORLD_TYPES = {
    "hinterland.transport.node_registered.v1",
    "hinterland.transport.link_registered.v1",
    "hinterland.transport.asset_registered.v1",
    "hinterland.reserves.depot_registered.v1",
    "hinterland.reserves.stock_level_reported.v1",
}


def _run(coro: Any) -> Any:
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop in this one."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coro)))
    thread.start()
    thread.join()
    return result[0] if result else None


def _envelope(cls: type[Envelope], subject: str, data: Any) -> Envelope:
    eid = str(uuid.uuid4())
    return cls.model_validate(
        {
            "id": eid,
            "source": "urn:test:e2e",
            "time": datetime.now(UTC),
            "subject": subject,
            "correlationid": eid,
            "mode": "live",
            "classification": "military",
            "data": data,
        }
    )


def _military_world() -> list[Envelope]:
    return [
        _envelope(
            DepotRegisteredV1,
            "D-MIL-CD",
            DepotRegistered(
                depot_id="D-MIL-CD",
                name="Western theatre fuel depot",
                node_id="N-chengdu",
                tier="cross_region",
                owner="military",
            ),
        ),
        _envelope(
            StockLevelReportedV1,
            "D-MIL-CD",
            StockLevelReported(depot_id="D-MIL-CD", commodity="fuel", quantity=100, unit="t"),
        ),
        _envelope(
            AssetRegisteredV1,
            "A-MIL-CD-01",
            AssetRegistered(
                asset_id="A-MIL-CD-01",
                name="PLA transport bn, truck 1",
                mode="road",
                capacity_t=20,
                speed_kmh=50,
                home_node_id="N-chengdu",
                owner="military",
            ),
        ),
    ]


def _need(
    need_id: str, node: str, commodity: str, tonnes: float, priority: str, within_h: float = 12
) -> NeedRaised:
    return NeedRaised(
        need_id=need_id,
        node_id=node,
        commodity=commodity,
        quantity=tonnes,
        priority=priority,
        deadline=datetime.now(UTC) + timedelta(hours=within_h),
    )


@dataclass
class System:
    base: str
    procs: list[ServiceProcess]
    first_version: int

    def client(self, user: str) -> HinterlandClient:
        client = HinterlandClient(self.base, timeout=10)
        client.login(user, PASSWORD)
        return client

    def logs(self) -> str:
        return "\n".join(f"--- {p.service} ---\n{p.log()[-3000:]}" for p in self.procs)


def _caught_up(client: redis.Redis, stream: str, group: str) -> bool:
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return False
    for g in groups:
        name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
        if name == group:
            return bool(g["pending"] == 0 and g.get("lag") == 0)
    return False


@pytest.fixture(scope="module")
def system(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    ns = f"e2e{uuid.uuid4().hex[:8]}"
    name = f"hl_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(sync_database_url(database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(database_url, name)
    port = free_port()
    env = {
        "HINTERLAND_REDIS_URL": redis_url,
        "HINTERLAND_DATABASE_URL": url,
        "HINTERLAND_NAMESPACE": ns,
        "HINTERLAND_MODE": "live",
        "HINTERLAND_HTTP_PORT": str(port),
        "HINTERLAND_TOKEN_SECRET": SECRET,
        "HINTERLAND_RECLAIM_IDLE_MS": "1000",
    }
    logs = tmp_path_factory.mktemp("e2e-logs")
    procs = [ServiceProcess(s, env, logs) for s in ("reserves", "transport", "dispatch")]
    bus = redis.Redis.from_url(redis_url)
    base = f"http://127.0.0.1:{port}"
    try:
        for proc in procs:
            proc.start().wait_ready()

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(healthy, 30, "the API answering /health")

        async def users() -> None:
            engine = db.create_engine(url)
            try:
                for user, (roles, clearance) in USERS.items():
                    await create_user(db.session_factory(engine), user, PASSWORD, roles, clearance)
            finally:
                await engine.dispose()

        _run(users())

        world = [
            t.event
            for t in load_scenario("smoke").events(f"run-{ns}", mode="live")
            if t.event.type in WORLD_TYPES
        ]
        for event in [*world, *_military_world()]:
            bus.xadd(f"{ns}:ingress.events", {"event": encode(event)})
        for stream, group in (
            ("ingress.events", "reserves"),
            ("ingress.events", "transport"),
            ("reserves.events", "dispatch"),
            ("transport.events", "dispatch"),
        ):
            key = f"{ns}:{stream}"
            eventually(partial(_caught_up, bus, key, group), 30, f"{group} caught up on {key}")

        system = System(base, procs, 0)
        with system.client("dora") as dora, system.client("mara") as mara:
            dora.raise_need(_need("NEED-YAAN-MED", "N-yaan", "medical", 10, "life_saving"))
            # More water than the trucks carry before its deadline: it stays open, so every
            # later trigger (the cut link) makes a new plan.
            dora.raise_need(_need("NEED-BAOXING-WATER", "N-baoxing", "water", 150, "sustaining"))
            mara.raise_need(_need("NEED-MIL-FUEL", "N-yaan", "fuel", 10, "life_saving"), "military")

            def planned_all() -> int | None:
                try:
                    view = mara.current_plan()
                except Exception:
                    return None
                status = {n.need_id: n.status for n in view.plan.needs}
                military = any(r.vehicle_id.startswith("A-MIL") for r in view.plan.routes)
                done = status.get("NEED-MIL-FUEL") == "served" and "NEED-YAAN-MED" in status
                return view.plan.version if done and military else None

            system.first_version = eventually(
                planned_all, 90, f"a plan serving all three needs\n{system.logs()}", interval=0.5
            )
        yield system
    finally:
        for proc in procs:
            proc.stop()
        keys = list(bus.scan_iter(f"{ns}:*"))
        if keys:
            bus.delete(*keys)
        bus.close()
        with psycopg.connect(sync_database_url(database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _logged_in(browser: Any, base: str, user: str) -> Any:
    """A page logged in as ``user``; any script error on it fails the test at ``_close``."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.script_errors = errors
    page.goto(base)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("connected")
    return page


def _close(page: Any) -> None:
    errors = page.script_errors
    page.context.close()
    assert errors == [], f"script errors in the console: {errors}"


def test_a_civil_dispatcher_sees_no_military_leg_that_a_cleared_one_sees(
    system: System, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    version = f"v{system.first_version}"
    mara = _logged_in(browser, system.base, "mara")
    dora = _logged_in(browser, system.base, "dora")
    for page in (mara, dora):
        expect(page.locator("#plan-version")).to_have_text(version)
    # The cleared dispatcher sees the military truck's route, depot and need ...
    expect(mara.locator("#map [data-vehicle-id='A-MIL-CD-01']")).to_have_count(1)
    expect(mara.locator("#map [data-depot-id='D-MIL-CD']")).to_have_count(1)
    expect(mara.locator("#map [data-need-id='NEED-MIL-FUEL']")).to_have_count(1)
    # ... the civil one sees none of them, anywhere on the page.
    expect(dora.locator("#map [data-vehicle-id]")).not_to_have_count(0)
    html = dora.content()
    for secret in ("A-MIL-CD-01", "D-MIL-CD", "NEED-MIL-FUEL"):
        assert secret not in html, secret
    # Nor in what the server sends the browser, read from the page with its own token.
    body = dora.evaluate(
        "async () => (await fetch('/snapshot', {headers: {Authorization: "
        "'Bearer ' + sessionStorage.getItem('hinterland.token')}})).text()"
    )
    for secret in ("A-MIL-CD-01", "D-MIL-CD", "NEED-MIL-FUEL"):
        assert secret not in body, secret
    # Keyboard only: a link on the map takes focus and Enter selects it for a report.
    dora.locator("#map [data-link-id='L-road-qionglai-yaan']").focus()
    dora.keyboard.press("Enter")
    expect(dora.locator("#selection")).to_contain_text("Selected link L-road-qionglai-yaan")
    expect(dora.get_by_role("button", name="Report disruption")).to_be_enabled()
    dora.screenshot(path=str(shots / "console-civil.png"))
    mara.screenshot(path=str(shots / "console-military.png"))
    _close(mara)
    _close(dora)


def test_a_dispatcher_cuts_a_link_on_the_map_sees_the_new_plan_and_approves_it(
    system: System, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = _logged_in(browser, system.base, "dora")
    first = f"v{system.first_version}"
    expect(page.locator("#plan-version")).to_have_text(first)
    expect(page.locator("#decision")).to_have_text("Awaiting decision")

    page.locator(f"#map [data-link-id='{CUT}']").click()
    expect(page.locator("#selection")).to_contain_text(f"Selected link {CUT}")
    page.get_by_label("Description").fill("Landslide closes the G5 Chengdu-Ya'an expressway")
    page.get_by_role("button", name="Report disruption").click()
    expect(page.locator("#toast")).to_contain_text("reported")
    expect(page.locator("#selection")).to_contain_text("Click or tab to a link")

    # The cut shows on the map and a new plan arrives over the live stream, no reload.
    expect(page.locator(f"#map [data-link-id='{CUT}']")).to_have_class(
        re.compile(r"\bclosed\b"), timeout=60_000
    )
    expect(page.locator("#plan-version")).not_to_have_text(first, timeout=60_000)
    expect(page.locator("#plan-reason")).to_contain_text(CUT)
    new_version = page.locator("#plan-version").inner_text()
    with system.client("dora") as dora:
        view = dora.current_plan()
    assert f"v{view.plan.version}" == new_version
    assert view.changes is not None
    assert view.changes.previous_version == system.first_version
    for route in view.plan.routes:
        for stop in route.stops:
            assert CUT not in stop.via_links, f"{route.vehicle_id} still drives over {CUT}"
    page.screenshot(path=str(shots / "console-after-cut.png"))

    page.get_by_role("button", name=f"Approve plan {new_version}").click()
    expect(page.locator("#decision")).to_contain_text("Approved by dora")
    with system.client("olga") as olga:
        decided = olga.current_plan().decision
    assert decided is not None
    assert (decided.decision, decided.username) == ("approved", "dora")
    page.screenshot(path=str(shots / "console-approved.png"))

    # A need raised from the console is planned round the cut road.
    page.get_by_label("Where").select_option("N-yaan")
    page.get_by_label("Commodity").fill("medical")
    page.get_by_label("Quantity (tonnes)").fill("5")
    page.get_by_label("Needed within (hours)").fill("36")
    page.get_by_role("button", name="Raise need").click()
    expect(page.locator("#toast")).to_contain_text("raised")
    expect(page.locator("#plan-version")).not_to_have_text(new_version, timeout=60_000)
    expect(page.locator("#map [data-vehicle-id]")).not_to_have_count(0)
    with system.client("dora") as dora:
        view = dora.current_plan()
    assert view.plan.routes, "the new need travels on a route"
    for route in view.plan.routes:
        for stop in route.stops:
            assert CUT not in stop.via_links, f"{route.vehicle_id} still drives over {CUT}"
    page.locator("#plan-title").scroll_into_view_if_needed()
    expect(page.locator("#toast")).to_be_hidden(timeout=10_000)
    page.screenshot(path=str(shots / "console-replanned.png"))  # docs/console.png
    _close(page)


def test_an_observer_cannot_approve_in_the_console_nor_behind_its_back(
    system: System, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = _logged_in(browser, system.base, "olga")
    expect(page.locator("#approve")).to_be_disabled()
    expect(page.locator("#override")).to_be_disabled()
    expect(page.locator("#decide-hint")).to_contain_text("(observer) cannot approve")
    plan_id = page.locator("#plan-version").get_attribute("data-plan-id")
    before = page.locator("#decision").inner_text()
    answer = page.evaluate(
        """async (planId) => {
            const r = await fetch(`/plans/${planId}/decision`, {method: 'POST',
              headers: {'Content-Type': 'application/json',
                        Authorization: 'Bearer ' + sessionStorage.getItem('hinterland.token')},
              body: JSON.stringify({decision: 'approve'})});
            return [r.status, (await r.json()).detail];
        }""",
        plan_id,
    )
    assert answer == [
        403,
        "POST /plans/{plan_id}/decision needs role dispatcher; olga has observer",
    ]
    page.wait_for_timeout(600)  # a change would reach the page within a second
    assert page.locator("#decision").inner_text() == before
    page.screenshot(path=str(shots / "console-observer.png"))
    _close(page)


def test_the_cli_logs_in_saves_its_token_and_raises_a_need_through_the_api(
    system: System, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "HINTERLAND_API": system.base,
        "HINTERLAND_TOKEN_FILE": str(tmp_path / "token"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HINTERLAND), *args], env=env, capture_output=True, text=True, timeout=60
        )

    refused = cli("need", "NEED-CLI", "N-yaan", "water", "2")
    assert refused.returncode == 1
    assert "401" in refused.stdout
    assert "hinterland login" in refused.stdout
    logged = cli("login", "dora", "--password", PASSWORD)
    assert logged.returncode == 0, logged.stdout + logged.stderr
    assert "logged in as dora" in logged.stdout
    assert (tmp_path / "token").stat().st_mode & 0o077 == 0  # readable by its owner only
    raised = cli("need", "NEED-CLI", "N-yaan", "water", "2", "--within-h", "30")
    assert raised.returncode == 0, raised.stdout + raised.stderr
    assert "hinterland.incidents.need_raised.v1" in raised.stdout
    bad = cli("need", "NEED-CLI-BAD", "N-yaan", "Fresh Water", "2")
    assert bad.returncode == 2
    assert "commodity: String should match pattern" in bad.stdout
    shown = cli("plan")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["plan"]["plan_id"].startswith("P")
    assert cli("login", "olga", "--password", PASSWORD).returncode == 0
    denied = cli("need", "NEED-CLI-2", "N-yaan", "water", "2")
    assert denied.returncode == 1
    assert "403" in denied.stdout
    assert "olga has observer" in denied.stdout


# --- exercise mode: the banner --------------------------------------------------------------


@pytest.fixture
def exercise_api(tmp_path: Path) -> Iterator[str]:
    """The gateway alone, in exercise mode, over a seeded SQLite read model."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'exercise.sqlite'}")
    sessions = db.session_factory(engine)

    async def prepare() -> None:
        await migrate.upgrade(engine, SPEC.name, SPEC.migrations)
        await migrate_gateway(engine)
        async with sessions() as session, session.begin():
            await seed_world(session)
        await create_user(sessions, "eve", PASSWORD, ["dispatcher"], "public")

    _run(prepare())
    port = free_port()
    app = build_api(
        engine,
        redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0"),
        GatewaySettings(mode="exercise"),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, 15, "the exercise gateway listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_exercise_data_carries_an_unmistakable_banner(
    exercise_api: str, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = _logged_in(browser, exercise_api, "eve")
    banner = page.locator("#exercise-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("EXERCISE")
    box = banner.bounding_box()
    assert box is not None
    assert box["y"] == 0  # at the top ...
    assert box["width"] >= 1400  # ... and full width
    page.screenshot(path=str(shots / "console-exercise.png"))
    _close(page)
