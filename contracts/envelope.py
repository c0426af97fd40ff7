"""The CloudEvents 1.0 envelope every Hinterland event travels in."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Mode = Literal["live", "exercise"]
Classification = Literal["public", "restricted", "military"]


class Payload(BaseModel):
    """Base of every event's ``data``: frozen, unknown fields ignored (forward compatible)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Envelope(BaseModel):
    """CloudEvents 1.0 structured-mode attributes plus Hinterland's extensions.

    CloudEvents extension names may only hold lower-case letters and digits, so the
    correlation and causation ids are spelt ``correlationid`` and ``causationid``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents version.")
    id: str = Field(
        min_length=1,
        max_length=128,
        description="Unique, stable event id; consumers deduplicate on it.",
        examples=["0b6f8f1e-7c1b-5a70-9d6e-5b0d1c9e2a11"],
    )
    source: str = Field(
        min_length=1,
        description="URI reference of the producer.",
        examples=["/hinterland/reserves", "urn:cma:seismic-feed"],
    )
    type: str = Field(description="Event type with version suffix.")
    time: AwareDatetime = Field(
        description="When the fact happened (simulated time in exercises), with UTC offset.",
        examples=["2026-05-12T06:28:00+00:00"],
    )
    subject: str = Field(
        "", description="What the event is about (depot, asset, need id...).", examples=["D-CD-01"]
    )
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(
        description="Id shared by every event of one causal chain (a crisis, an exercise run).",
        examples=["exercise-sichuan-42"],
    )
    causationid: str | None = Field(
        None, description="Id of the event that caused this one, if any."
    )
    mode: Mode = Field("live", description="live, or exercise: never mixed in one state.")
    classification: Classification = Field(
        "public", description="Who may see the event: public, restricted or military."
    )
