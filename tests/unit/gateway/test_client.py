"""The typed client: retries what is safe to retry, and carries the server's refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from contracts.incidents import NeedRaised
from services.client import (
    Forbidden,
    HinterlandClient,
    InvalidRequest,
    Unauthorized,
    Unavailable,
)
from tests.unit.gateway.samples import plan

NEED = NeedRaised(
    need_id="N-1",
    node_id="N-yaan",
    commodity="medical",
    quantity=20,
    priority="life_saving",
    deadline=datetime(2026, 5, 12, 18, tzinfo=UTC),
)


def _client(handler, sleeps: list[float] | None = None, retries: int = 3) -> HinterlandClient:
    return HinterlandClient(
        "http://api",
        token="tok",
        transport=httpx.MockTransport(handler),
        retries=retries,
        backoff_s=0.1,
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
    )


def test_a_need_is_posted_with_the_token_and_its_classification() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"event_id": "e1", "type": "t"})

    accepted = _client(handler).raise_need(NEED, "restricted")
    assert accepted.event_id == "e1"
    [request] = seen
    assert request.headers["authorization"] == "Bearer tok"
    assert request.url.params["classification"] == "restricted"
    assert b'"deadline":"2026-05-12T18:00:00Z"' in request.content


def test_connection_failures_are_retried_with_exponential_backoff() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(202, json={"event_id": "e1", "type": "t"})

    sleeps: list[float] = []
    assert _client(handler, sleeps).raise_need(NEED).event_id == "e1"
    assert sleeps == [0.1, 0.2]


def test_a_server_that_stays_unavailable_raises_its_message_after_the_retries() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json={"detail": "event bus unavailable: down"})

    sleeps: list[float] = []
    with pytest.raises(Unavailable, match="503 event bus unavailable: down") as info:
        _client(handler, sleeps, retries=2).raise_need(NEED)
    assert calls == 3
    assert sleeps == [0.1, 0.2]
    assert info.value.path == "/needs"


def test_a_read_timeout_is_not_repeated_because_the_write_may_have_happened() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(Unavailable, match="no answer within the timeout"):
        _client(handler).raise_need(NEED)
    assert calls == 1


def test_a_refusal_is_raised_at_once_with_the_servers_message() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            403,
            json={"detail": "POST /needs needs role dispatcher or integrator; olga has observer"},
        )

    with pytest.raises(Forbidden) as info:
        _client(handler).raise_need(NEED)
    assert calls == 1
    assert info.value.status == 403
    assert info.value.message.endswith("olga has observer")


def test_validation_errors_name_each_field() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422,
            json={
                "detail": [{"loc": ["body", "quantity"], "msg": "Input should be greater than 0"}]
            },
        )

    with pytest.raises(InvalidRequest, match="quantity: Input should be greater than 0"):
        _client(handler).raise_need(NEED)


def test_login_keeps_the_token_and_a_wrong_password_is_unauthorized() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b"password=right" in request.content:
            return httpx.Response(
                200,
                json={
                    "access_token": "new",
                    "token_type": "bearer",
                    "expires_in": 60,
                    "username": "dora",
                    "roles": ["dispatcher"],
                    "clearance": "public",
                },
            )
        return httpx.Response(401, json={"detail": "incorrect username or password"})

    client = _client(handler)
    with pytest.raises(Unauthorized, match="incorrect username or password"):
        client.login("dora", "wrong")
    assert client.login("dora", "right").roles == ["dispatcher"]
    assert client.token == "new"


def test_the_current_plan_is_parsed_into_the_contract_model() -> None:
    body = {
        "plan": plan(2).model_dump(mode="json"),
        "created_at": "2026-05-12T08:00:00Z",
        "reason": "link L-ab closed",
        "current": True,
        "changes": None,
        "decision": None,
    }
    view = _client(lambda _: httpx.Response(200, json=body)).current_plan()
    assert view.plan.routes[0].stops[2].via_links == ["L-ac", "L-cb"]
    assert view.reason == "link L-ab closed"
