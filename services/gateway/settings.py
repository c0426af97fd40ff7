"""Gateway settings: dispatch's (same database, streams, mode, HTTP port) plus token signing."""

from __future__ import annotations

from pydantic import Field

from services.dispatch.settings import DispatchSettings


class GatewaySettings(DispatchSettings):
    """``HINTERLAND_TOKEN_SECRET`` signs the bearer tokens (HS256).

    There is no default: a secret in the source would let anyone who read it mint tokens.
    Live mode without one serves no authenticated route at all (logins and tokens answer 503,
    and the service logs an error at start), while dispatch's bus work goes on. Exercise mode
    without one gets a random per-process secret (tokens end with the process).
    """

    token_secret: str | None = Field(
        None, min_length=32, description="HS256 signing secret, at least 32 characters."
    )
    token_ttl_s: int = Field(8 * 3600, ge=60, description="Token lifetime: one shift.")
    sse_poll_s: float = Field(0.25, gt=0, description="How often the live stream looks for change.")
