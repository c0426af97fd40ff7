"""Readers for Solomon/Homberger VRPLIB files, Li & Lim PDPTW files and their BKS tables."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

# Header keys of the VRPLIB/LKH-3 files that we read; every other key is ignored.
_VRPLIB_SECTIONS = ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION")


@dataclass(frozen=True, slots=True)
class Instance:
    """A VRPTW or PDPTW instance; node 0 is the depot, customers are 1..n.

    Parameters
    ----------
    name
        Instance name as in the BKS tables (``C101``, ``R1_2_1``, ``lc101``).
    path
        File it was read from.
    coords
        Per node, (x, y); travel time and distance are the Euclidean distance.
    demands
        Per node, load change (Li & Lim deliveries are negative; the depot has 0).
    windows
        Per node, (ready, due) with due the latest *start* of service; the depot's due time
        is the latest return.
    service
        Per node, service duration (0 at the depot).
    fleet_size, capacity
        Number of identical vehicles available and their capacity.
    pairs
        (pickup, delivery) node pairs for Li & Lim; empty for VRPTW.
    """

    name: str
    path: Path
    coords: tuple[tuple[float, float], ...]
    demands: tuple[int, ...]
    windows: tuple[tuple[float, float], ...]
    service: tuple[float, ...]
    fleet_size: int
    capacity: int
    pairs: tuple[tuple[int, int], ...] = ()

    @property
    def num_customers(self) -> int:
        """Number of nodes other than the depot."""
        return len(self.coords) - 1


@dataclass(frozen=True, slots=True)
class Bks:
    """One best-known solution row of a ``bks.csv`` table.

    ``objective`` is ``hierarchical`` (vehicles first, then real distance) or ``distance``
    (distance only, arcs truncated to one decimal: ``distance_convention = dimacs_trunc1``).
    """

    instance: str
    vehicles: int
    distance: float
    objective: str
    distance_convention: str


def _fail(path: Path, line: int | None, message: str) -> ValueError:
    return ValueError(f"{path}: {message}" if line is None else f"{path}:{line}: {message}")


def _numbers(path: Path, line: int, text: str, count: int) -> list[float]:
    fields = text.split()
    if len(fields) != count:
        raise _fail(path, line, f"expected {count} numbers, got {len(fields)}: {text.strip()!r}")
    try:
        return [float(field) for field in fields]
    except ValueError:
        raise _fail(path, line, f"not a number in {text.strip()!r}") from None


def _integer(path: Path, line: int, value: float, what: str) -> int:
    if value != int(value):
        raise _fail(path, line, f"{what} must be an integer, got {value}")
    return int(value)


def read_vrplib(path: Path) -> Instance:
    """Read a Solomon/Homberger VRPTW file in VRPLIB (LKH-3) format.

    Raises
    ------
    ValueError
        Naming the file and line of the first malformed entry or missing section.
    """
    header: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[int, list[float]]]] = {}
    depots: list[int] = []
    current: str | None = None
    widths = {"NODE_COORD_SECTION": 3, "DEMAND_SECTION": 2, "TIME_WINDOW_SECTION": 3}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        key = text.split(":", 1)[0].strip().upper() if ":" in text else text.upper()
        if text.upper() == "EOF":
            break
        if key in _VRPLIB_SECTIONS or key == "DEPOT_SECTION":
            current = key
            sections.setdefault(key, {})
            continue
        if ":" in text and not text[0].isdigit() and not text.startswith("-"):
            name, setting = text.split(":", 1)
            header[name.strip().upper()] = setting.strip()
            current = None
            continue
        if current is None:
            raise _fail(path, number, f"unexpected line outside a section: {text!r}")
        if current == "DEPOT_SECTION":
            value = _numbers(path, number, text, 1)[0]
            if value != -1:
                depots.append(_integer(path, number, value, "depot id"))
            continue
        values = _numbers(path, number, text, widths[current])
        node = _integer(path, number, values[0], "node id")
        if node in sections[current]:
            raise _fail(path, number, f"node {node} listed twice in {current}")
        sections[current][node] = (number, values[1:])

    def need(key: str) -> str:
        if key not in header:
            raise _fail(path, None, f"missing header {key}")
        return header[key]

    try:
        dimension = int(need("DIMENSION"))
        fleet = int(need("VEHICLES"))
        capacity = int(need("CAPACITY"))
        service_time = float(header.get("SERVICE_TIME", "0"))
    except ValueError as error:
        raise _fail(path, None, f"bad header value ({error})") from None
    if depots not in ([], [1]):
        raise _fail(path, None, f"only node 1 as the single depot is supported, got {depots}")
    for key in _VRPLIB_SECTIONS:
        listed = sections.get(key)
        if listed is None:
            raise _fail(path, None, f"missing {key}")
        if sorted(listed) != list(range(1, dimension + 1)):
            raise _fail(path, None, f"{key} must list nodes 1..{dimension} (DIMENSION) once each")
    coords = sections["NODE_COORD_SECTION"]
    demands = sections["DEMAND_SECTION"]
    windows = sections["TIME_WINDOW_SECTION"]
    nodes = range(1, dimension + 1)
    for node in nodes:
        line, (ready, due) = windows[node]
        if ready > due:
            raise _fail(path, line, f"node {node}: ready time {ready} after due time {due}")
    return Instance(
        name=header.get("NAME", path.stem),
        path=path,
        coords=tuple((coords[n][1][0], coords[n][1][1]) for n in nodes),
        demands=tuple(_integer(path, demands[n][0], demands[n][1][0], "demand") for n in nodes),
        windows=tuple((windows[n][1][0], windows[n][1][1]) for n in nodes),
        service=tuple(0.0 if n == 1 else service_time for n in nodes),
        fleet_size=fleet,
        capacity=capacity,
    )


def read_lilim(path: Path) -> Instance:
    """Read a Li & Lim PDPTW text file (``K Q speed`` then one line per node).

    Raises
    ------
    ValueError
        Naming the file and line of the first malformed entry or inconsistent pair.
    """
    lines = [
        (number, raw)
        for number, raw in enumerate(path.read_text().splitlines(), start=1)
        if raw.strip()
    ]
    if not lines:
        raise _fail(path, 1, "empty file")
    first, text = lines[0]
    fleet_f, capacity_f, speed = _numbers(path, first, text, 3)
    # Ten of the published files (lc104, lc2xx...) carry speed 0: the field is unused, travel
    # time is the Euclidean distance in every published solution, so 0 reads as 1.
    if speed not in (0, 1):
        raise _fail(path, first, f"only speed 1 (or 0, unused) is supported, got {speed:g}")
    rows: list[tuple[int, list[float]]] = []
    for node, (number, text) in enumerate(lines[1:]):
        values = _numbers(path, number, text, 9)
        if _integer(path, number, values[0], "node id") != node:
            raise _fail(path, number, f"expected node id {node}, got {values[0]:g}")
        if values[4] > values[5]:
            raise _fail(path, number, f"node {node}: ready time after due time")
        rows.append((number, values))
    if len(rows) < 2:
        raise _fail(path, first, "needs a depot and at least one customer")
    pairs: list[tuple[int, int]] = []
    for node, (number, values) in enumerate(rows):
        pickup_of, delivery_of = int(values[7]), int(values[8])
        if node == 0:
            continue
        if pickup_of == 0 and delivery_of != 0:
            if not 0 < delivery_of < len(rows) or int(rows[delivery_of][1][7]) != node:
                raise _fail(
                    path, number, f"pickup {node}: delivery {delivery_of} does not point back"
                )
            pairs.append((node, delivery_of))
        elif delivery_of == 0 and pickup_of != 0:
            if not 0 < pickup_of < len(rows) or int(rows[pickup_of][1][8]) != node:
                raise _fail(
                    path, number, f"delivery {node}: pickup {pickup_of} does not point back"
                )
        else:
            raise _fail(path, number, f"node {node} is neither a pickup nor a delivery")
    return Instance(
        name=path.stem,
        path=path,
        coords=tuple((values[1], values[2]) for _, values in rows),
        demands=tuple(_integer(path, number, values[3], "demand") for number, values in rows),
        windows=tuple((values[4], values[5]) for _, values in rows),
        service=tuple(values[6] for _, values in rows),
        fleet_size=_integer(path, first, fleet_f, "fleet size"),
        capacity=_integer(path, first, capacity_f, "capacity"),
        pairs=tuple(pairs),
    )


def read_instance(path: Path) -> Instance:
    """Read ``.vrp`` (VRPLIB) or ``.txt`` (Li & Lim) by file extension."""
    if path.suffix.lower() == ".vrp":
        return read_vrplib(path)
    if path.suffix.lower() == ".txt":
        return read_lilim(path)
    raise ValueError(f"{path}: unknown instance format (expected .vrp or .txt)")


def read_bks(path: Path) -> dict[str, dict[str, Bks]]:
    """Read a ``bks.csv``: instance name (lower case) -> objective -> row."""
    table: dict[str, dict[str, Bks]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        for number, row in enumerate(reader, start=2):
            try:
                bks = Bks(
                    instance=row["instance"],
                    vehicles=int(row["vehicles"]),
                    distance=float(row["distance"]),
                    objective=row["objective"],
                    distance_convention=row["distance_convention"],
                )
            except (KeyError, TypeError, ValueError) as error:
                raise _fail(path, number, f"bad BKS row ({error!r})") from None
            table.setdefault(bks.instance.lower(), {})[bks.objective] = bks
    return table


def bks_for(instance: Instance) -> dict[str, Bks]:
    """BKS rows for an instance from the ``bks.csv`` beside its file; objective -> row."""
    table = instance.path.parent / "bks.csv"
    if not table.is_file():
        return {}
    return read_bks(table).get(instance.name.lower(), {})
