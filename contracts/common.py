"""Value types shared by several producers' events."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from contracts.envelope import Payload

TransportMode = Literal["road", "rail", "water", "air"]
Owner = Literal["civil", "military"]
Priority = Literal["life_saving", "sustaining", "routine"]
MassUnit = Literal["t", "kg"]

Commodity = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Commodity code (lower_snake).",
        examples=["grain", "fuel", "medical", "tents", "water", "generators"],
    ),
]
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=128, description="Stable identifier.", examples=["D-CD-01"]),
]


class Circle(Payload):
    shape: Literal["circle"] = "circle"
    lat: float = Field(ge=-90, le=90, description="Centre latitude.", examples=[30.0])
    lon: float = Field(ge=-180, le=180, description="Centre longitude.", examples=[103.0])
    radius_km: float = Field(gt=0, le=2000, description="Radius in kilometres.", examples=[60])


class Polygon(Payload):
    shape: Literal["polygon"] = "polygon"
    points: list[tuple[float, float]] = Field(
        min_length=4,
        description="Closed ring of (lat, lon) points: the last point equals the first.",
        examples=[[[30.0, 102.8], [30.2, 103.2], [29.8, 103.3], [30.0, 102.8]]],
    )

    @field_validator("points")
    @classmethod
    def _closed(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if points[0] != points[-1]:
            raise ValueError("polygon ring is not closed: last point must equal the first")
        return points


Area = Annotated[Circle | Polygon, Field(discriminator="shape")]


def to_kg(quantity: float, unit: MassUnit) -> int:
    """Convert a reported mass to whole kilograms, the unit used inside the services."""
    return round(quantity * 1000) if unit == "t" else round(quantity)
