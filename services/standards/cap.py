"""CAP 1.2 alerts in and out: an alert becomes a ``DisruptionReported`` (or a withdrawal).

Pure translation, no I/O. ``parse_alert`` validates the document against the CAP 1.2 rules
we rely on (required elements, enumerations, coordinate syntax, closed polygons, conditional
elements); ``translate_alert`` turns a valid alert into what Hinterland publishes, marking the
affected nodes and links of a :class:`~services.standards.network.Network` the caller passes
in; ``disruption_to_cap`` writes our own disruption notices as CAP. The mapping tables are
documented in ``docs/standards.md``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import ValidationError

from contracts.common import Circle, Polygon
from contracts.envelope import Classification, Mode
from contracts.incidents import DisruptionKind, DisruptionReported
from services.runtime.ids import derived_id
from services.standards.errors import StandardsError
from services.standards.network import (
    CircleArea,
    Network,
    PolygonArea,
    Shape,
    affected,
    enclosing_circle,
)
from services.standards.xmltree import Element, parse

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
_OLDER: Final = {
    "urn:oasis:names:tc:emergency:cap:1.1": "CAP 1.1",
    "http://www.incident.com/cap/1.0": "CAP 1.0",
}
SOURCE: Final = "/hinterland/standards/cap"
HINTERLAND_SENDER: Final = "hinterland"
"""The CAP ``sender`` of the alerts Hinterland emits; its ``hinterland:*`` parameters are
trusted when parsed back (round trip), those of other senders are ignored."""
PARAM: Final = "hinterland:"

STATUSES: Final = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES: Final = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES: Final = ("Public", "Restricted", "Private")
CATEGORIES: Final = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire",
    "Health", "Env", "Transport", "Infra", "CBRNE", "Other",
)  # fmt: skip
URGENCIES: Final = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES: Final = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES: Final = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
RESPONSE_TYPES: Final = (
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None",
)  # fmt: skip

SEVERITY_IN: Final[dict[str, int]] = {
    "Extreme": 5,
    "Severe": 4,
    "Moderate": 3,
    "Minor": 2,
    "Unknown": 3,  # unknown is not minor: act as for moderate until an Update says otherwise
}
SEVERITY_OUT: Final[dict[int, str]] = {
    5: "Extreme",
    4: "Severe",
    3: "Moderate",
    2: "Minor",
    1: "Minor",
}
DEGRADE_FACTOR: Final[dict[int, float]] = {3: 0.55, 2: 0.7, 1: 0.85}
"""Below Severe, affected links are degraded (speed factor, as transport's area rule) not cut."""

KIND_PRIORITY: Final[tuple[tuple[str, DisruptionKind], ...]] = (
    ("Geo", "earthquake"),
    ("Met", "flood"),
    ("Infra", "node_lost"),
    ("Transport", "link_cut"),
    ("Fire", "link_cut"),
    ("CBRNE", "link_cut"),
    ("Env", "link_cut"),
    ("Security", "link_cut"),
    ("Safety", "link_cut"),
    ("Health", "demand_surge"),
    ("Rescue", "demand_surge"),
    ("Other", "link_cut"),
)
"""Category -> disruption kind; with several categories the first in this order decides."""
_GEO_WATER = re.compile(r"flood|tsunami|dam|inundat", re.IGNORECASE)

KIND_OUT: Final[dict[str, tuple[str, str]]] = {
    "earthquake": ("Geo", "Earthquake"),
    "flood": ("Met", "Flood"),
    "link_cut": ("Transport", "Transport link cut"),
    "node_lost": ("Transport", "Transport node lost"),
    "depot_lost": ("Infra", "Reserve depot lost"),
    "demand_surge": ("Rescue", "Relief demand surge"),
}

_CAP_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_PAIR = re.compile(rf"^({_NUMBER}),({_NUMBER})$")


@dataclass(frozen=True, slots=True)
class CapReference:
    """One ``sender,identifier,sent`` triple of ``<references>``."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class CapArea:
    desc: str
    shapes: tuple[Shape, ...]


@dataclass(frozen=True, slots=True)
class CapInfo:
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str | None
    description: str | None
    effective: datetime | None
    onset: datetime | None
    parameters: tuple[tuple[str, str], ...]
    areas: tuple[CapArea, ...]

    def parameter(self, name: str) -> str | None:
        return next((v for k, v in self.parameters if k == name), None)


@dataclass(frozen=True, slots=True)
class CapAlert:
    """A validated CAP 1.2 alert (the parts Hinterland reads)."""

    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    restriction: str | None
    note: str | None
    references: tuple[CapReference, ...]
    infos: tuple[CapInfo, ...]


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A CAP Cancel: the earlier disruption no longer holds.

    Published as ``hinterland.incidents.disruption_withdrawn.v1`` (``DisruptionWithdrawnV1``)
    by ``translate``.
    """

    disruption_id: str
    reason: str
    withdrawn_at: datetime


@dataclass(frozen=True, slots=True)
class CapTranslation:
    """What one alert means for Hinterland: exactly one of disruption or withdrawal is set."""

    alert: CapAlert
    event_id: str
    mode: Mode
    classification: Classification
    disruption: DisruptionReported | None = None
    withdrawal: Withdrawal | None = None

    @property
    def disruption_id(self) -> str:
        if self.disruption is not None:
            return self.disruption.disruption_id
        assert self.withdrawal is not None
        return self.withdrawal.disruption_id


# --------------------------------------------------------------------------- parsing


def _enum(el: Element, allowed: Sequence[str], hint: str = "") -> str:
    if el.text not in allowed:
        raise el.error(f"'{el.text}' is not one of {', '.join(allowed)}{hint}")
    return el.text


def cap_datetime(el: Element, value: str | None = None) -> datetime:
    """A CAP dateTime: seconds precision with a numeric UTC offset, never 'Z'."""
    text = el.text if value is None else value
    if text.endswith(("Z", "z")):
        raise el.error(
            f"'{text}' uses 'Z'; CAP 1.2 forbids alphabetic time zone designators: write the "
            "offset, UTC as -00:00 (e.g. 2026-05-12T08:00:00-00:00)"
        )
    if not _CAP_DATETIME.match(text):
        raise el.error(
            f"'{text}' is not a CAP dateTime YYYY-MM-DDThh:mm:ss followed by a UTC offset "
            "such as +08:00 or -00:00"
        )
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise el.error(f"'{text}' is not a valid date and time: {exc}") from exc


def _restricted_chars(el: Element) -> str:
    bad = sorted({c for c in el.text if c.isspace() or c in ",<&"})
    if bad:
        shown = ", ".join("space" if c.isspace() else repr(c) for c in bad)
        raise el.error(f"must not include spaces, commas or the characters < and & (found {shown})")
    return el.text


def _pair(el: Element, token: str, what: str) -> tuple[float, float]:
    m = _PAIR.match(token)
    if not m:
        raise el.error(
            f"{what} '{token}' is not a WGS 84 'latitude,longitude' pair in decimal degrees"
        )
    lat, lon = float(m.group(1)), float(m.group(2))
    if not -90 <= lat <= 90:
        raise el.error(f"{what} '{token}': latitude {lat} is outside -90..90")
    if not -180 <= lon <= 180:
        raise el.error(f"{what} '{token}': longitude {lon} is outside -180..180")
    return lat, lon


def _polygon(el: Element) -> PolygonArea:
    tokens = el.text.split()
    points = tuple(_pair(el, t, f"point {i}") for i, t in enumerate(tokens, 1))
    if len(points) < 4:
        raise el.error(
            f"a polygon needs at least 4 coordinate pairs (a closed ring); found {len(points)}"
        )
    if points[0] != points[-1]:
        raise el.error(
            f"polygon is not closed: the first pair ({tokens[0]}) and the last pair "
            f"({tokens[-1]}) must be the same (CAP 1.2: a closed ring of at least 4 pairs)"
        )
    return PolygonArea(points)


def _circle(el: Element) -> CircleArea:
    tokens = el.text.split()
    if len(tokens) != 2:
        raise el.error(
            f"'{el.text}' is not a circle: write the centre 'latitude,longitude', a space, "
            "and the radius in kilometres (e.g. '30.0,103.0 60')"
        )
    lat, lon = _pair(el, tokens[0], "centre")
    try:
        radius = float(tokens[1])
    except ValueError:
        radius = -1.0
    if not 0 <= radius <= 2000:
        raise el.error(f"radius '{tokens[1]}' must be a number of kilometres from 0 to 2000")
    return CircleArea(lat, lon, radius)


def _area(el: Element) -> CapArea:
    desc = el.text_of("areaDesc")
    shapes: list[Shape] = [_polygon(p) for p in el.all("polygon")]
    shapes += [_circle(c) for c in el.all("circle")]
    for g in el.all("geocode"):
        g.text_of("valueName")
        g.one("value")
    altitude, ceiling = el.opt("altitude"), el.opt("ceiling")
    if ceiling is not None and altitude is None:
        raise ceiling.error("<ceiling> must not be used without <altitude>")
    return CapArea(desc, tuple(shapes))


def _info(el: Element) -> CapInfo:
    categories = tuple(_enum(c, CATEGORIES) for c in el.all("category", at_least=1))
    event = el.text_of("event")
    for r in el.all("responseType"):
        _enum(r, RESPONSE_TYPES)
    urgency = _enum(el.one("urgency"), URGENCIES)
    severity = _enum(el.one("severity"), SEVERITIES)
    certainty = _enum(
        el.one("certainty"), CERTAINTIES, " ('VeryLikely' was retired in CAP 1.1: use Likely)"
    )
    times = {}
    for name in ("effective", "onset", "expires"):
        child = el.opt(name)
        times[name] = cap_datetime(child) if child is not None and child.text else None
    parameters = tuple((p.text_of("valueName"), p.one("value").text) for p in el.all("parameter"))
    return CapInfo(
        categories=categories,
        event=event,
        urgency=urgency,
        severity=severity,
        certainty=certainty,
        headline=el.opt_text("headline"),
        description=el.opt_text("description"),
        effective=times["effective"],
        onset=times["onset"],
        parameters=parameters,
        areas=tuple(_area(a) for a in el.all("area")),
    )


def _references(el: Element) -> tuple[CapReference, ...]:
    refs = []
    for token in el.text.split():
        parts = token.split(",")
        if len(parts) != 3 or not all(parts):
            raise el.error(
                f"'{token}' is not a 'sender,identifier,sent' triple (references are "
                "whitespace-separated triples)"
            )
        refs.append(CapReference(parts[0], parts[1], cap_datetime(el, parts[2])))
    if not refs:
        raise el.error("must list at least one 'sender,identifier,sent' triple")
    return tuple(refs)


def parse_alert(document: bytes | str) -> CapAlert:
    """Validate a CAP 1.2 alert; raises :class:`StandardsError` naming the element and rule."""
    root = parse(document, root_label="alert")
    if root.name != "alert" or root.ns != CAP_NS:
        found = f"{{{root.ns}}}{root.name}" if root.ns else root.name
        older = _OLDER.get(root.ns)
        hint = f" ({older} is not accepted: send CAP 1.2)" if older and root.name == "alert" else ""
        raise StandardsError(
            root.name,
            f"wrong root element or namespace: found {found}, expected <alert> in namespace "
            f"{CAP_NS}{hint}",
            problem="malformed",
            line=root.line,
        )
    alert = Element(root, "alert", frozenset({CAP_NS}))
    identifier = _restricted_chars(alert.one("identifier"))
    sender = _restricted_chars(alert.one("sender"))
    sent = cap_datetime(alert.one("sent"))
    status = _enum(alert.one("status"), STATUSES)
    msg_type = _enum(alert.one("msgType"), MSG_TYPES)
    scope = _enum(alert.one("scope"), SCOPES)
    restriction = alert.opt_text("restriction")
    if scope == "Restricted" and restriction is None:
        raise alert.one("restriction", why="required when <scope> is Restricted").error(
            "must not be empty"
        )
    if scope == "Private" and alert.opt_text("addresses") is None:
        alert.text_of("addresses", why="required when <scope> is Private")
    refs_el = alert.opt("references")
    references = _references(refs_el) if refs_el is not None else ()
    if msg_type in ("Update", "Cancel") and not references:
        alert.one("references", why=f"required when <msgType> is {msg_type}: it names the alert")
    return CapAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        scope=scope,
        restriction=restriction,
        note=alert.opt_text("note"),
        references=references,
        infos=tuple(_info(i) for i in alert.all("info")),
    )


# --------------------------------------------------------------------------- translating


def disruption_id_for(sender: str, identifier: str) -> str:
    """Stable disruption id of an original alert; its Updates and Cancels map to the same id."""
    return f"CAP-{derived_id('cap-alert', sender, identifier)}"


def _mode(alert: CapAlert) -> Mode:
    if alert.status == "Actual":
        return "live"
    if alert.status in ("Exercise", "Test"):
        return "exercise"
    raise StandardsError(
        "alert/status",
        f"status '{alert.status}' is not acted on: Hinterland translates Actual (live), "
        "Exercise and Test (exercise); System and Draft alerts must not change the plan",
        problem="unsupported",
    )


def _original(alert: CapAlert) -> tuple[str, str]:
    """Sender and identifier of the alert an Update or Cancel refers to: the earliest sent."""
    if alert.msg_type == "Alert":
        return alert.sender, alert.identifier
    first = min(alert.references, key=lambda r: r.sent)
    return first.sender, first.identifier


def _to_contract_area(shape: Shape) -> Circle | Polygon:
    if isinstance(shape, CircleArea):
        return Circle(lat=shape.lat, lon=shape.lon, radius_km=max(shape.radius_km, 0.1))
    return Polygon(points=list(shape.points))


def _kind(info: CapInfo) -> DisruptionKind:
    for category, kind in KIND_PRIORITY:
        if category in info.categories:
            if kind == "earthquake" and _GEO_WATER.search(info.event):
                return "flood"
            return kind
    raise AssertionError("every info has a category")  # pragma: no cover


def _own_disruption(alert: CapAlert, info: CapInfo, disruption_id: str) -> DisruptionReported:
    """Our own alert, parsed back field for field from its ``hinterland:*`` parameters."""

    def ids(name: str) -> list[str]:
        return (info.parameter(PARAM + name) or "").split()

    shapes = [s for a in info.areas for s in a.shapes]
    factor = info.parameter(PARAM + "degrade_factor")
    reported_area = info.parameter(PARAM + "area") == "reported" and shapes
    return DisruptionReported.model_validate(
        {
            "disruption_id": disruption_id,
            "kind": info.parameter(PARAM + "kind"),
            "severity": info.parameter(PARAM + "severity"),
            "observed_at": info.onset or alert.sent,
            "links": ids("links"),
            "nodes": ids("nodes"),
            "depots": ids("depots"),
            "area": _to_contract_area(shapes[0]) if reported_area else None,
            "degrade_factor": float(factor) if factor else None,
            "description": info.description or "",
        }
    )


def _partner_disruption(
    alert: CapAlert, network: Network, disruption_id: str
) -> DisruptionReported:
    infos = alert.infos
    info = min(infos, key=lambda i: [c for c, _ in KIND_PRIORITY].index(_first_category(i)))
    severity = max(SEVERITY_IN[i.severity] for i in infos)
    shapes = [s for i in infos for a in i.areas for s in a.shapes]
    if not shapes:
        raise StandardsError(
            "alert/info/area",
            "no <polygon> or <circle>: Hinterland needs coordinates to find the affected "
            "nodes and links (areas given only by <areaDesc> or <geocode> are not supported)",
        )
    kind = _kind(info)
    hit = affected(network, shapes)
    links: tuple[str, ...]
    nodes: tuple[str, ...]
    depots: tuple[str, ...]
    if kind == "demand_surge":
        links, nodes, depots = (), (), ()
    else:
        lose_nodes = severity >= 5 or (kind == "node_lost" and severity >= 4)
        links = hit.links
        nodes = hit.nodes if lose_nodes else ()
        depots = hit.depots if lose_nodes else ()
    text = info.headline or info.event
    if info.description:
        text = f"{text}: {info.description}"
    return DisruptionReported(
        disruption_id=disruption_id,
        kind=kind,
        severity=severity,
        observed_at=info.onset or info.effective or alert.sent,
        links=list(links),
        nodes=list(nodes),
        depots=list(depots),
        area=_to_contract_area(shapes[0]),
        degrade_factor=DEGRADE_FACTOR.get(severity) if links else None,
        description=f"[{alert.sender}] {text}"[:2000],
    )


def _first_category(info: CapInfo) -> str:
    order = [c for c, _ in KIND_PRIORITY]
    return min(info.categories, key=order.index)


def translate_alert(
    document: bytes | str,
    network: Network,
    *,
    trusted_senders: frozenset[str] = frozenset({HINTERLAND_SENDER}),
) -> CapTranslation:
    """Validate a CAP 1.2 alert and say what it means for Hinterland.

    Parameters
    ----------
    document
        The alert XML.
    network
        Nodes (with coordinates), links and depot sites to mark against the alert's area.
    trusted_senders
        Senders whose ``hinterland:*`` parameters are read (our own alerts, round trip).

    Returns
    -------
    CapTranslation
        Alert and Update give a ``DisruptionReported`` (an Update keeps the original alert's
        disruption id); Cancel gives a :class:`Withdrawal`.

    Raises
    ------
    StandardsError
        Naming the element and the rule it breaks; nothing should be published.
    """
    alert = parse_alert(document)
    mode = _mode(alert)
    if alert.msg_type in ("Ack", "Error"):
        raise StandardsError(
            "alert/msgType",
            f"msgType '{alert.msg_type}' acknowledges or corrects a message; it reports no "
            "disruption (Hinterland translates Alert, Update and Cancel)",
            problem="unsupported",
        )
    own_ids = [i.parameter(PARAM + "disruption_id") for i in alert.infos]
    own_id = next((x for x in own_ids if x), None) if alert.sender in trusted_senders else None
    disruption_id = own_id or disruption_id_for(*_original(alert))
    event_id = derived_id("cap-alert", alert.sender, alert.identifier, alert.sent.isoformat())
    classification: Classification = "public" if alert.scope == "Public" else "restricted"
    if alert.msg_type == "Cancel":
        reason = alert.note or f"cancelled by CAP alert {alert.identifier} from {alert.sender}"
        return CapTranslation(
            alert,
            event_id,
            mode,
            classification,
            withdrawal=Withdrawal(disruption_id, reason, alert.sent),
        )
    if not alert.infos:
        raise StandardsError(
            "alert/info",
            f"an {alert.msg_type} must carry at least one <info>: without <category> and "
            "<severity> there is no disruption to report",
        )
    try:
        if own_id is not None:
            info = next(i for i in alert.infos if i.parameter(PARAM + "disruption_id"))
            disruption = _own_disruption(alert, info, own_id)
        else:
            disruption = _partner_disruption(alert, network, disruption_id)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "disruption"
        raise StandardsError(
            "alert/info", f"does not make a valid disruption ({where}: {first['msg']})"
        ) from exc
    return CapTranslation(alert, event_id, mode, classification, disruption=disruption)


# --------------------------------------------------------------------------- emitting


def format_cap_datetime(moment: datetime) -> str:
    """CAP dateTime in UTC: seconds precision, offset written -00:00 as CAP 1.2 asks."""
    if moment.tzinfo is None:
        raise ValueError("CAP times need a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"


def _num(x: float) -> str:
    """Decimal degrees or km, 7 decimals at most (about 1 cm), no exponent (CAP has none)."""
    return f"{x:.7f}".rstrip("0").rstrip(".")


def _coords(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in points)


def _area_points(d: DisruptionReported, network: Network) -> list[tuple[float, float]]:
    node_ids = set(d.nodes)
    for link in network.links:
        if link.link_id in d.links:
            node_ids.update((link.a, link.b))
    node_ids.update(s.node_id for s in network.depots if s.depot_id in d.depots)
    nodes = (network.node(n) for n in sorted(node_ids))
    return [(n.lat, n.lon) for n in nodes if n is not None]


def disruption_to_cap(
    disruption: DisruptionReported,
    *,
    network: Network,
    sent: datetime,
    mode: Mode = "live",
    classification: Classification = "public",
    sender: str = HINTERLAND_SENDER,
    identifier: str | None = None,
    msg_type: Literal["Alert", "Update"] = "Alert",
    references: Sequence[CapReference] = (),
) -> bytes:
    """A CAP 1.2 alert for one of our disruption notices.

    The area is the disruption's own area when it has one; otherwise a circle enclosing the
    coordinates of the affected nodes, link ends and depot sites (marked ``hinterland:area
    = derived`` so parsing it back does not turn it into a reported area). Ids, kind and
    the exact severity travel as ``hinterland:*`` parameters, so Hinterland reads back the
    same disruption; other consumers read category, severity and the area.
    """
    d = disruption
    ident = identifier or f"HL-{derived_id('cap-out', d.disruption_id, sent.isoformat())}"
    category, event = KIND_OUT[d.kind]

    def sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
        if text is not None:
            el.text = text
        return el

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    sub(alert, "identifier", ident)
    sub(alert, "sender", sender)
    sub(alert, "sent", format_cap_datetime(sent))
    sub(alert, "status", "Actual" if mode == "live" else "Exercise")
    sub(alert, "msgType", msg_type)
    sub(alert, "source", "Hinterland")
    sub(alert, "scope", "Public" if classification == "public" else "Restricted")
    if classification != "public":
        sub(alert, "restriction", f"Hinterland classification: {classification}")
    if mode == "exercise":
        sub(alert, "note", "EXERCISE - not a real event")
    if references:
        sub(
            alert,
            "references",
            " ".join(
                f"{r.sender},{r.identifier},{format_cap_datetime(r.sent)}" for r in references
            ),
        )
    info = sub(alert, "info")
    sub(info, "category", category)
    sub(info, "event", event)
    sub(info, "urgency", "Immediate")
    sub(info, "severity", SEVERITY_OUT[d.severity])
    sub(info, "certainty", "Observed")
    sub(info, "onset", format_cap_datetime(d.observed_at))
    sub(info, "senderName", "Hinterland logistics coordination")
    sub(info, "headline", f"{event}: {d.disruption_id}")
    if d.description:
        sub(info, "description", d.description)
    params: list[tuple[str, str]] = [
        ("disruption_id", d.disruption_id),
        ("kind", d.kind),
        ("severity", str(d.severity)),
        ("links", " ".join(d.links)),
        ("nodes", " ".join(d.nodes)),
        ("depots", " ".join(d.depots)),
        ("area", "reported" if d.area is not None else "derived"),
    ]
    if d.degrade_factor is not None:
        params.append(("degrade_factor", repr(d.degrade_factor)))
    for name, value in params:
        p = sub(info, "parameter")
        sub(p, "valueName", PARAM + name)
        sub(p, "value", value)
    area = sub(info, "area")
    affected_text = "; ".join(
        f"{label} {', '.join(ids)}"
        for label, ids in (("links", d.links), ("nodes", d.nodes), ("depots", d.depots))
        if ids
    )
    sub(area, "areaDesc", f"Hinterland disruption {d.disruption_id}: {affected_text or 'area'}")
    if d.area is not None and d.area.shape == "polygon":
        sub(area, "polygon", _coords(d.area.points))
    elif d.area is not None and d.area.shape == "circle":
        sub(area, "circle", f"{_num(d.area.lat)},{_num(d.area.lon)} {_num(d.area.radius_km)}")
    else:
        points = _area_points(d, network)
        if points:
            c = enclosing_circle(points)
            sub(area, "circle", f"{_num(c.lat)},{_num(c.lon)} {_num(c.radius_km)}")
    ET.indent(alert)
    xml: bytes = ET.tostring(
        alert, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS
    )
    return xml
