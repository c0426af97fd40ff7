"""Typed Python client of the Hinterland HTTP API (what the CLI's dispatcher commands use).

Requests and answers are the contract and gateway models; a refusal raises an ``ApiError``
subclass carrying the status and the server's message; connection failures and 503 answers
(bus or database briefly away) are retried with exponential backoff, everything else is not.
A write is retried only when nothing can have been published: the connection never opened,
or the server said 503 (it publishes nothing when the bus is away).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from contracts.envelope import Classification
from contracts.incidents import DisruptionReported, NeedRaised
from services.gateway.models import (
    Accepted,
    DecisionView,
    NeedView,
    PlanSummary,
    PlanView,
    Snapshot,
    Token,
)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class ApiError(Exception):
    """The server refused: ``status`` and its ``message`` (FastAPI's ``detail``)."""

    def __init__(self, status: int, message: str, method: str = "", path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{status} {message}")


class Unauthorized(ApiError):
    """401: no token, an expired or invalid one, or a wrong password."""


class Forbidden(ApiError):
    """403: the caller's role or clearance does not allow it."""


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class InvalidRequest(ApiError):
    """422: the message lists each bad field as ``path: reason``."""


class Unavailable(ApiError):
    """The server could not be reached, or answered 503, after every retry."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    503: Unavailable,
}


def _message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text or response.reason_phrase
    if isinstance(detail, list):  # pydantic validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg', '')}" for e in detail
        )
    return str(detail)


class HinterlandClient:
    """Synchronous client; ``token`` may be set later by ``login``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HinterlandClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method, path, json=json, data=data, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server: safe to try again, writes included.
                if attempt >= self.retries:
                    raise Unavailable(
                        0, f"cannot reach {self._http.base_url}: {exc}", method, path
                    ) from exc
            except httpx.TimeoutException as exc:
                # The request may have been applied: do not repeat it.
                raise Unavailable(0, f"no answer within the timeout: {exc}", method, path) from exc
            else:
                if response.status_code != 503 or attempt >= self.retries:
                    break
            self._sleep(self.backoff_s * 2**attempt)
            attempt += 1
        if response.status_code >= 400:
            cls = _BY_STATUS.get(response.status_code, ApiError)
            raise cls(response.status_code, _message(response), method, path)
        return response

    def _get(self, path: str, model: type[M], **params: str) -> M:
        return model.model_validate_json(self._request("GET", path, params=params or None).text)

    def _get_list(self, path: str, adapter: TypeAdapter[T]) -> T:
        return adapter.validate_json(self._request("GET", path).text)

    # --- API --------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Token:
        """OAuth2 password flow; the client keeps the token for its next calls."""
        token = Token.model_validate_json(
            self._request(
                "POST", "/login/token", data={"username": username, "password": password}
            ).text
        )
        self.token = token.access_token
        return token

    def health(self) -> dict[str, str]:
        result: dict[str, str] = self._request("GET", "/health").json()
        return result

    def raise_need(self, need: NeedRaised, classification: Classification = "public") -> Accepted:
        return Accepted.model_validate_json(
            self._request(
                "POST",
                "/needs",
                json=need.model_dump(mode="json"),
                params={"classification": classification},
            ).text
        )

    def report_disruption(
        self, disruption: DisruptionReported, classification: Classification = "public"
    ) -> Accepted:
        return Accepted.model_validate_json(
            self._request(
                "POST",
                "/disruptions",
                json=disruption.model_dump(mode="json"),
                params={"classification": classification},
            ).text
        )

    def current_plan(self) -> PlanView:
        return self._get("/plan", PlanView)

    def plan(self, plan_id: str) -> PlanView:
        return self._get(f"/plans/{plan_id}", PlanView)

    def plans(self) -> list[PlanSummary]:
        return self._get_list("/plans", TypeAdapter(list[PlanSummary]))

    def needs(self) -> list[NeedView]:
        return self._get_list("/needs", TypeAdapter(list[NeedView]))

    def snapshot(self) -> Snapshot:
        return self._get("/snapshot", Snapshot)

    def decide(self, plan_id: str, decision: str, note: str = "") -> DecisionView:
        """``decision`` is "approve" or "override" (an override needs a ``note``)."""
        return DecisionView.model_validate_json(
            self._request(
                "POST", f"/plans/{plan_id}/decision", json={"decision": decision, "note": note}
            ).text
        )
