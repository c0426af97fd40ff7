"""A small piece of the Sichuan network around Ya'an and Lushan, and the XML fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.standards.network import Network

DATA = Path(__file__).parent / "data"


def fixture_xml(name: str) -> bytes:
    return (DATA / name).read_bytes()


def fixture_text(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


NETWORK = Network.from_plain(
    nodes=[
        {"node_id": "N-yaan", "lat": 30.0, "lon": 103.0},
        {"node_id": "N-lushan", "lat": 30.15, "lon": 102.93},
        {"node_id": "N-chengdu", "lat": 30.66, "lon": 104.07},
        {"node_id": "N-tianquan", "lat": 30.07, "lon": 102.6},
        {"node_id": "N-hongya", "lat": 29.9, "lon": 103.37},
        {"node_id": "N-kangding", "lat": 30.05, "lon": 101.96},
        {"node_id": "N-chongqing", "lat": 29.56, "lon": 106.55},
    ],
    links=[
        {"link_id": "L-road-yaan-lushan", "a": "N-yaan", "b": "N-lushan", "mode": "road"},
        {"link_id": "L-road-chengdu-yaan", "a": "N-chengdu", "b": "N-yaan", "mode": "road"},
        # both ends outside the earthquake polygon, the road runs through it
        {"link_id": "L-road-tianquan-hongya", "a": "N-tianquan", "b": "N-hongya", "mode": "road"},
        # the same geometry by air: aircraft fly over, so it is not affected
        {"link_id": "L-air-kangding-chengdu", "a": "N-kangding", "b": "N-chengdu", "mode": "air"},
        {"link_id": "L-road-kangding-chengdu", "a": "N-kangding", "b": "N-chengdu", "mode": "road"},
        {
            "link_id": "L-rail-chengdu-chongqing",
            "a": "N-chengdu",
            "b": "N-chongqing",
            "mode": "rail",
        },
    ],
    depots=[
        {"depot_id": "D-yaan", "node_id": "N-yaan"},
        {"depot_id": "D-chengdu", "node_id": "N-chengdu"},
    ],
)


@pytest.fixture
def network() -> Network:
    return NETWORK
