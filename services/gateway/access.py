"""Who may call what: one declarative table, checked for every request, deny by default.

A route missing from ``ACCESS`` and not in ``PUBLIC`` answers 403 to everyone, and a test
walks every route of the app to prove each is in exactly one of the two.
"""

from __future__ import annotations

from typing import Final

from services.gateway.security import ROLES, Role

Endpoint = tuple[str, str]
"""(HTTP method, route template), e.g. ("POST", "/plans/{plan_id}/decision")."""

READ: Final[frozenset[Role]] = frozenset(ROLES)
REPORT: Final[frozenset[Role]] = frozenset({"dispatcher", "integrator"})
DECIDE: Final[frozenset[Role]] = frozenset({"dispatcher"})
CONTROL: Final[frozenset[Role]] = frozenset({"exercise-controller"})
FEED: Final[frozenset[Role]] = frozenset({"integrator"})
"""The bus as it happens (``GET /events/stream``) is for integrated systems; people watch
the console's ``GET /stream``, built from the read model."""
ADMIN: Final[frozenset[Role]] = frozenset({"admin"})

PUBLIC: Final[frozenset[Endpoint]] = frozenset(
    {
        ("GET", "/health"),
        ("POST", "/login/token"),
        ("GET", "/"),  # the console shell (static; it shows a login form and holds no data)
        # The API's description, so integrators and Swagger UI can read it before a token
        # exists; it describes shapes, never data.
        ("GET", "/openapi.json"),
        ("GET", "/asyncapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    }
)
"""Routes that answer without a token. The static files under /console are public too."""

ACCESS: Final[dict[Endpoint, frozenset[Role]]] = {
    ("GET", "/me"): READ,
    ("GET", "/network"): READ,
    ("GET", "/depots"): READ,
    ("GET", "/stock"): READ,
    ("GET", "/assets"): READ,
    ("GET", "/needs"): READ,
    ("GET", "/disruptions"): READ,
    ("GET", "/orders"): READ,
    ("GET", "/plan"): READ,
    ("GET", "/plans"): READ,
    ("GET", "/plans/{plan_id}"): READ,
    ("GET", "/snapshot"): READ,
    ("GET", "/stream"): READ,
    ("GET", "/exercise"): READ,
    ("POST", "/needs"): REPORT,
    ("POST", "/disruptions"): REPORT,
    ("POST", "/cap"): REPORT,
    ("POST", "/edxl-rm"): REPORT,
    ("GET", "/events/stream"): FEED,
    ("POST", "/plans/{plan_id}/decision"): DECIDE,
    ("POST", "/exercise/start"): CONTROL,
    ("POST", "/exercise/pause"): CONTROL,
    ("POST", "/exercise/step"): CONTROL,
    ("POST", "/exercise/stop"): CONTROL,
    ("GET", "/audit"): ADMIN,
    ("POST", "/users"): ADMIN,
}


def allowed(endpoint: Endpoint) -> frozenset[Role] | None:
    """Roles that may call ``endpoint``; None if it is not in the table (nobody may)."""
    return ACCESS.get(endpoint)
