"""EDXL-RM 1.0 resource messages: requests in as needs, commitments and delivery status out.

Pure translation, no I/O. ``parse_message`` validates any EDXL-RM 1.0 message against the
rules we enforce per message type (required, conditional and forbidden elements, see
``MESSAGE_RULES``); ``translate_request`` turns a RequestResource or RequisitionResource into
``NeedRaised`` payloads plus the :class:`~services.standards.threads.NeedThread` of each need;
``commit_for_order`` / ``commit_for_plan`` write CommitResource messages and
``deployment_status`` writes ReportResourceDeploymentStatus, each citing the request's
thread. Every message we write passes ``parse_message``. The mapping tables are documented in
``docs/standards.md``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from pydantic import ValidationError

from contracts.common import MassUnit, Priority
from contracts.dispatch import DispatchOrderIssued, PlanPublished
from contracts.execution import OrderProgressReported
from contracts.incidents import NeedRaised
from services.runtime.ids import derived_id
from services.standards.errors import StandardsError
from services.standards.network import Network, nearest_node
from services.standards.threads import NeedThread
from services.standards.xmltree import Element, parse

RM_NS: Final = "urn:oasis:names:tc:emergency:EDXL:RM:1.0"
RM_MSG_NS: Final = "urn:oasis:names:tc:emergency:EDXL:RM:1.0:msg"
GML_NS: Final = "http://www.opengis.net/gml"
SOURCE: Final = "/hinterland/standards/edxl-rm"

COMMODITY_LIST: Final = "urn:hinterland:commodity"
NODE_LIST: Final = "urn:hinterland:node"
PRIORITY_LIST: Final = "urn:hinterland:priority"
PRECEDENCE_LIST: Final = "urn:hinterland:precedence"
UNIT_LIST: Final = "urn:hinterland:unit"
STATUS_LIST: Final = "urn:hinterland:deployment-status"
REASON_LIST: Final = "urn:hinterland:unserved-reason"

MESSAGE_TYPES: Final = (
    "RequestResource", "ResponseToRequestResource", "RequisitionResource", "CommitResource",
    "RequestInformation", "ResponseToRequestInformation", "OfferUnsolicitedResource",
    "ReleaseResource", "RequestReturn", "ResponseToRequestReturn", "RequestQuote",
    "ResponseToRequestQuote", "RequestResourceDeploymentStatus",
    "ReportResourceDeploymentStatus", "RequestExtendedDeploymentDuration",
    "ResponseToRequestExtendedDeploymentDuration",
)  # fmt: skip
INBOUND: Final = ("RequestResource", "RequisitionResource")
RESPONSE_TYPES: Final = ("Accept", "Decline", "Provisional")
SCHEDULE_TYPES: Final = (
    "RequestedArrival", "EstimatedArrival", "ActualArrival", "RequestedDeparture",
    "EstimatedDeparture", "ActualDeparture", "RequestedReturnDeparture",
    "EstimatedReturnDeparture", "ActualReturnDeparture", "RequestedReturnArrival",
    "EstimatedReturnArrival", "ActualReturnArrival", "BeginAvailable", "EndAvailable",
    "Committed", "Current", "ReportTo", "Route",
)  # fmt: skip

Usage = Literal["required", "optional", "forbidden"]


@dataclass(frozen=True, slots=True)
class MessageRule:
    """Which thread and response elements a message type needs, allows or forbids."""

    originating: Usage
    preceding: Usage
    response_information: Usage
    why: str


_REQUEST = MessageRule(
    "optional", "optional", "forbidden", "a request opens or continues a thread; it answers no item"
)
_RESPONSE = MessageRule(
    "required",
    "required",
    "required",
    "a response must cite the thread it answers and say, per item, Accept, Decline or Provisional",
)
MESSAGE_RULES: Final[dict[str, MessageRule]] = {
    t: _RESPONSE if t.startswith("ResponseTo") or t == "CommitResource" else _REQUEST
    for t in MESSAGE_TYPES
}
MESSAGE_RULES["ReportResourceDeploymentStatus"] = MessageRule(
    "optional", "optional", "optional", "a status report may be unsolicited or answer a request"
)

COMMODITY_WORDS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("generators", ("generator", "genset")),
    ("tents", ("tent", "shelter", "tarpaulin")),
    ("medical", ("medical", "medicine", "pharmaceutical", "first aid", "trauma kit", "blood")),
    ("water", ("drinking water", "potable water", "bottled water", "water")),
    ("fuel", ("diesel", "gasoline", "petrol", "kerosene", "jet fuel", "fuel")),
    ("grain", ("grain", "rice", "wheat", "flour", "food", "ration", "meal")),
)
"""Commodity code <- words found in the resource's Name, TypeStructure or Keyword values.

Checked in this order, on whole words, case-insensitive; an explicit ``urn:hinterland:
commodity`` TypeStructure or Keyword overrides it."""

UNITS: Final[dict[str, MassUnit]] = {
    "t": "t", "tonne": "t", "tonnes": "t", "metric ton": "t", "metric tons": "t", "mt": "t",
    "kg": "kg", "kgs": "kg", "kilogram": "kg", "kilograms": "kg",
}  # fmt: skip
LITRE_KG: Final[dict[str, float]] = {"water": 1.0, "fuel": 0.84}
"""Litres accepted for liquids only, converted to kg at these densities (diesel for fuel)."""
_LITRES: Final = ("l", "litre", "litres", "liter", "liters")

PRIORITY_WORDS: Final[dict[str, Priority]] = {
    "life_saving": "life_saving", "lifesaving": "life_saving", "immediate": "life_saving",
    "emergency": "life_saving", "critical": "life_saving", "flash": "life_saving",
    "high": "life_saving",
    "sustaining": "sustaining", "urgent": "sustaining", "expected": "sustaining",
    "medium": "sustaining", "normal": "sustaining", "priority": "sustaining",
    "routine": "routine", "low": "routine", "future": "routine",
}  # fmt: skip
"""Values of a Keyword whose ValueListURN names a priority or urgency list (case-insensitive)."""
SAHANA_PRIORITY: Final = "urn:sahana:eden:request:priority"
SAHANA_LEVELS: Final[dict[str, Priority]] = {
    "3": "life_saving",
    "2": "sustaining",
    "1": "routine",
}
DEFAULT_PRIORITY: Final[Priority] = "sustaining"
DEFAULT_WITHIN: Final[dict[str, timedelta]] = {
    "life_saving": timedelta(hours=12),
    "sustaining": timedelta(hours=48),
    "routine": timedelta(hours=96),
}
"""Deadline when the item has no RequestedArrival: SentDateTime plus this."""
MAX_SNAP_KM: Final = 50.0
"""A coordinate farther than this from every node is refused rather than guessed."""

DEPLOYMENT_STATUS: Final[dict[str, str]] = {
    "loaded": "InTransit",
    "unloaded": "Delivered",
    "completed": "Completed",
    "broken_down": "Interrupted",
}

_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z][A-Za-z .]*)?\s*$")


@dataclass(frozen=True, slots=True)
class RmMessage:
    """A validated EDXL-RM message: its header and the element tree for the translators."""

    message_type: str
    message_id: str
    sent: datetime
    originating_id: str | None
    preceding_ids: tuple[str, ...]
    incident_id: str | None
    resources: tuple[Element, ...]
    root: Element

    @property
    def thread_origin(self) -> str:
        return self.originating_id or self.message_id


# --------------------------------------------------------------------------- validation


def rm_datetime(el: Element) -> datetime:
    """xsd:dateTime with a time zone (Z or an offset); a naive time cannot be placed."""
    text = el.text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise el.error(f"'{text}' is not an xsd:dateTime (e.g. 2026-05-12T08:00:00+08:00)") from exc
    if moment.tzinfo is None:
        raise el.error(f"'{text}' has no UTC offset; write e.g. {text}+08:00 or {text}Z")
    return moment


def _usage(msg: Element, name: str, usage: Usage, message_type: str, why: str) -> list[Element]:
    found = msg.all(name)
    if usage == "required" and not found:
        raise StandardsError(
            f"{msg.path}/{name}",
            f"required in a {message_type}: {why}",
            line=msg.node.line,
        )
    if usage == "forbidden" and found:
        raise found[0].error(f"must not appear in a {message_type}: {why}")
    return found


def _value_list(el: Element) -> tuple[str, str]:
    """A ValueListType: (ValueListURN, first Value)."""
    urn = el.text_of("ValueListURN")
    values = el.all("Value", at_least=1)
    return urn, values[0].text


def _check_resource_information(info: Element, message_type: str, rule: MessageRule) -> None:
    info.text_of("ResourceInfoElementID")
    responses = _usage(
        info, "ResponseInformation", rule.response_information, message_type, rule.why
    )
    for r in responses:
        r.text_of("PrecedingResourceInfoElementID")
        response_type = r.one("ResponseType")
        if response_type.text not in RESPONSE_TYPES:
            raise response_type.error(
                f"'{response_type.text}' is not one of {', '.join(RESPONSE_TYPES)}"
            )
        if response_type.text == "Decline" and not (
            r.opt("ReasonCode") or r.opt_text("ResponseReason")
        ):
            raise r.error(
                "a Decline must say why: give <ReasonCode> or <ResponseReason> "
                "(Hinterland's rule, so a requester can act on the refusal)"
            )
        if response_type.text != "Decline" and message_type == "CommitResource":
            assignment = info.one(
                "AssignmentInformation", why=f"a {response_type.text} commitment states how much"
            )
            assignment.one("Quantity", why=f"a {response_type.text} commitment states how much")
    for s in info.all("ScheduleInformation"):
        schedule_type = s.one("ScheduleType")
        if schedule_type.text not in SCHEDULE_TYPES:
            raise schedule_type.error(
                f"'{schedule_type.text}' is not an EDXL-RM ScheduleType "
                f"({', '.join(SCHEDULE_TYPES)})"
            )
        when = s.opt("DateTime")
        if when is not None:
            rm_datetime(when)
    if message_type in INBOUND or message_type in (
        "CommitResource",
        "ReportResourceDeploymentStatus",
    ):
        resource = info.one("Resource", why="it says what is requested or provided")
        if resource.opt("Name") is None and resource.opt("TypeStructure") is None:
            raise resource.error("identify the resource by <Name> or <TypeStructure>")
        type_structure = resource.opt("TypeStructure")
        if type_structure is not None:
            _value_list(type_structure)
        for k in resource.all("Keyword"):
            _value_list(k)
    if message_type == "ReportResourceDeploymentStatus":
        status = info.one("Resource").one(
            "ResourceStatus", why="it is what a status report reports"
        )
        _value_list(status.one("DeploymentStatus", why="it is what a status report reports"))


def parse_message(document: bytes | str) -> RmMessage:
    """Validate an EDXL-RM 1.0 message; raises :class:`StandardsError` naming element and rule."""
    root = parse(document, root_label="EDXL-RM message")
    per_type_ns = root.ns.startswith(RM_NS + ":") and root.ns[len(RM_NS) + 1 :] == root.name
    if root.ns != RM_MSG_NS and not per_type_ns:
        found = f"{{{root.ns}}}{root.name}" if root.ns else root.name
        raise StandardsError(
            root.name,
            f"wrong namespace: found {found}; EDXL-RM 1.0 messages are in {RM_MSG_NS}",
            problem="malformed",
            line=root.line,
        )
    if root.name not in MESSAGE_TYPES:
        raise StandardsError(
            root.name,
            f"<{root.name}> is not an EDXL-RM 1.0 message type ({', '.join(MESSAGE_TYPES)})",
            problem="malformed",
            line=root.line,
        )
    message_type = root.name
    msg = Element(root, message_type, frozenset({RM_MSG_NS, RM_NS, root.ns}))
    message_id = msg.text_of("MessageID")
    sent = rm_datetime(msg.one("SentDateTime"))
    content_type = msg.one("MessageContentType")
    if content_type.text != message_type:
        raise content_type.error(
            f"'{content_type.text}' does not match the message element <{message_type}>"
        )
    rule = MESSAGE_RULES[message_type]
    originating = _usage(msg, "OriginatingMessageID", rule.originating, message_type, rule.why)
    if len(originating) > 1:
        raise originating[1].error("<OriginatingMessageID> may appear at most once")
    preceding = _usage(msg, "PrecedingMessageID", rule.preceding, message_type, rule.why)
    for el in (*originating, *preceding):
        if not el.text:
            raise el.error("must not be empty")
    incident = msg.opt("IncidentInformation")
    recall = msg.opt("MessageRecall")
    if recall is not None:
        recall.text_of("RecalledMessageID")
        recall.text_of("RecallType")
    msg.all("ContactInformation", at_least=1, why="every EDXL-RM message names a contact")
    infos = msg.all("ResourceInformation", at_least=1)
    seen: dict[str, Element] = {}
    for info in infos:
        _check_resource_information(info, message_type, rule)
        element_id = info.text_of("ResourceInfoElementID")
        if element_id in seen:
            raise info.one("ResourceInfoElementID").error(
                f"'{element_id}' is used twice in this message; ResourceInfoElementIDs are unique"
            )
        seen[element_id] = info
    return RmMessage(
        message_type=message_type,
        message_id=message_id,
        sent=sent,
        originating_id=originating[0].text if originating else None,
        preceding_ids=tuple(p.text for p in preceding),
        incident_id=incident.opt_text("IncidentID") if incident is not None else None,
        resources=tuple(infos),
        root=msg,
    )


# --------------------------------------------------------------------------- requests in


@dataclass(frozen=True, slots=True)
class RequestedNeed:
    """One ResourceInformation item as a need, with the event id it is published under."""

    event_id: str
    need: NeedRaised
    thread: NeedThread


@dataclass(frozen=True, slots=True)
class RmTranslation:
    message: RmMessage
    needs: tuple[RequestedNeed, ...]


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "


def _commodity(resource: Element) -> str:
    lists = [_value_list(k) for k in resource.all("Keyword")]
    type_structure = resource.opt("TypeStructure")
    if type_structure is not None:
        lists.insert(0, _value_list(type_structure))
    explicit = [v for urn, v in lists if urn == COMMODITY_LIST]
    if explicit:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", explicit[0]):
            raise resource.error(
                f"commodity code '{explicit[0]}' ({COMMODITY_LIST}) must be lower_snake_case"
            )
        return explicit[0]
    texts = [resource.opt_text("Name") or "", *(v for _, v in lists)]
    haystack = " | ".join(_words(t) for t in texts)
    for code, words in COMMODITY_WORDS:
        if any(f" {w} " in haystack or f" {w}s " in haystack for w in words):
            return code
    shown = "; ".join(t for t in texts if t) or "(nothing)"
    raise resource.error(
        f"cannot map the resource ({shown}) to a Hinterland commodity; name one of "
        f"{', '.join(c for c, _ in COMMODITY_WORDS)} or give a Keyword with ValueListURN "
        f"{COMMODITY_LIST}"
    )


def _quantity(info: Element, commodity: str) -> tuple[float, MassUnit]:
    quantity = info.one("AssignmentInformation", why="Hinterland needs the quantity requested").one(
        "Quantity", why="Hinterland needs the quantity requested"
    )
    measured = quantity.opt("MeasuredQuantity")
    if measured is not None:
        amount_el = measured.one("Amount")
        unit_el = measured.one("UnitOfMeasure")
        unit_text = unit_el.opt_text("Value") or unit_el.text
        amount_text, where = amount_el.text, amount_el
    else:
        text_el = quantity.one("QuantityText", why="give <MeasuredQuantity> or <QuantityText>")
        m = _NUMBER.match(text_el.text)
        if not m:
            raise text_el.error(f"'{text_el.text}' is not a quantity such as '20 t' or '500 kg'")
        amount_text, unit_text, where = m.group(1), (m.group(2) or ""), text_el
    try:
        amount = float(amount_text)
    except ValueError:
        amount = math.nan
    if not amount > 0 or not math.isfinite(amount):
        raise where.error(f"'{amount_text}' is not a positive amount")
    unit = unit_text.strip().lower().rstrip(".")
    if unit in UNITS:
        return amount, UNITS[unit]
    if unit in _LITRES and commodity in LITRE_KG:
        return round(amount * LITRE_KG[commodity], 3), "kg"
    if not unit:
        raise where.error(
            f"'{amount_text}' has no mass unit; Hinterland plans in mass: write e.g. "
            f"'{amount_text} t' or '{amount_text} kg'"
        )
    liquids = " or ".join(LITRE_KG)
    raise where.error(
        f"unit '{unit_text}' is not a mass unit Hinterland accepts ({', '.join(sorted(UNITS))}; "
        f"litres only for {liquids})"
    )


def _keyword(resource: Element, urn: str) -> Element | None:
    for k in resource.all("Keyword"):
        if k.text_of("ValueListURN") == urn:
            return k.all("Value", at_least=1)[0]
    return None


def _priority(resource: Element) -> Priority:
    for k in resource.all("Keyword"):
        urn, value = _value_list(k)
        key = value.strip().lower().replace(" ", "_").replace("-", "_")
        if (
            urn == PRIORITY_LIST
            or ("priority" in urn.lower() and urn != SAHANA_PRIORITY)
            or ("urgency" in urn.lower())
        ):
            if key in PRIORITY_WORDS:
                return PRIORITY_WORDS[key]
            raise k.error(
                f"priority '{value}' is not understood; use one of "
                f"{', '.join(sorted(PRIORITY_WORDS))}"
            )
        if urn == SAHANA_PRIORITY and key in SAHANA_LEVELS:
            return SAHANA_LEVELS[key]
    return DEFAULT_PRIORITY


def _precedence(resource: Element) -> int:
    el = _keyword(resource, PRECEDENCE_LIST)
    if el is None:
        return 0
    if not el.text.isdigit() or not 0 <= int(el.text) <= 9:
        raise el.error(f"precedence '{el.text}' must be a whole number from 0 to 9")
    return int(el.text)


def _point(location: Element) -> tuple[float, float] | None:
    """Coordinates of a Location's TargetArea: a gml:Point/pos 'lat lon' or a 'lat,lon r' circle."""
    target = location.opt("TargetArea")
    if target is None:
        return None
    for node in _descendants(target):
        if node.node.name == "pos" and node.node.ns == GML_NS:
            parts = node.text.replace(",", " ").split()
            if len(parts) >= 2:
                return _lat_lon(node, parts[0], parts[1])
            raise node.error(f"'{node.text}' is not a 'latitude longitude' position")
        if node.node.name == "circle":
            head = node.text.split()
            parts = head[0].split(",") if head else []
            if len(parts) == 2:
                return _lat_lon(node, parts[0], parts[1])
            raise node.error(f"'{node.text}' is not a 'latitude,longitude radius' circle")
    raise target.error("has no gml:Point/gml:pos or circle Hinterland can read")


def _descendants(el: Element) -> Iterable[Element]:
    for i, child in enumerate(el.node.children, 1):
        sub = Element(child, f"{el.path}/{child.name}[{i}]", el.namespaces)
        yield sub
        yield from _descendants(sub)


def _lat_lon(el: Element, lat_text: str, lon_text: str) -> tuple[float, float]:
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError as exc:
        raise el.error(f"'{el.text}' is not a decimal latitude and longitude") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise el.error(f"'{el.text}' is outside latitude -90..90 / longitude -180..180")
    return lat, lon


def _node(info: Element, resource: Element, network: Network) -> str:
    explicit = _keyword(resource, NODE_LIST)
    if explicit is not None:
        if network.node(explicit.text) is None:
            raise explicit.error(f"node '{explicit.text}' is not in the network")
        return explicit.text
    for schedule in info.all("ScheduleInformation"):
        location = schedule.opt("Location")
        if location is None:
            continue
        desc = location.opt_text("LocationDescription")
        if desc is not None and network.node(desc) is not None:
            return desc
        point = _point(location)
        if point is not None:
            found = nearest_node(network, *point)
            if found is None or found[1] > MAX_SNAP_KM:
                raise location.error(
                    f"no network node within {MAX_SNAP_KM:g} km of {point[0]},{point[1]}; "
                    f"name a node in a Keyword with ValueListURN {NODE_LIST}"
                )
            return found[0].node_id
        if desc is not None:
            raise location.error(
                f"'{desc}' is not a network node id and the location has no coordinates; "
                f"give a TargetArea point or a Keyword with ValueListURN {NODE_LIST}"
            )
    raise info.error(
        "no delivery location: give ScheduleInformation/Location with a node id in "
        f"LocationDescription or a TargetArea point, or a Keyword with ValueListURN {NODE_LIST}"
    )


def _deadline(info: Element, sent: datetime, priority: Priority) -> datetime:
    for schedule in info.all("ScheduleInformation"):
        if schedule.text_of("ScheduleType") == "RequestedArrival":
            when = schedule.opt("DateTime")
            if when is not None:
                return rm_datetime(when)
    return sent + DEFAULT_WITHIN[priority]


def need_id_for(thread_origin: str, element_id: str) -> str:
    """Stable need id: the same item of the same thread is the same need."""
    return f"RM-{derived_id('edxl-rm-need', thread_origin, element_id)}"


def translate_request(document: bytes | str, network: Network) -> RmTranslation:
    """Validate a RequestResource or RequisitionResource and turn each item into a need.

    Raises
    ------
    StandardsError
        Naming the element and the rule it breaks, for any item: then no need is published.
    """
    message = parse_message(document)
    if message.message_type not in INBOUND:
        raise StandardsError(
            message.message_type,
            f"a valid {message.message_type}, but Hinterland only takes "
            f"{' and '.join(INBOUND)} in (it sends CommitResource and "
            "ReportResourceDeploymentStatus itself)",
            problem="unsupported",
        )
    recall = message.root.opt("MessageRecall")
    if recall is not None:
        raise recall.error(
            "MessageRecall is not supported yet: there is no contract event to amend or "
            "withdraw a need; send a new request instead",
            problem="unsupported",
        )
    needs: list[RequestedNeed] = []
    for info in message.resources:
        element_id = info.text_of("ResourceInfoElementID")
        resource = info.one("Resource")
        commodity = _commodity(resource)
        quantity, unit = _quantity(info, commodity)
        priority = _priority(resource)
        need_id = need_id_for(message.thread_origin, element_id)
        try:
            need = NeedRaised(
                need_id=need_id,
                node_id=_node(info, resource, network),
                commodity=commodity,
                quantity=quantity,
                unit=unit,
                priority=priority,
                deadline=_deadline(info, message.sent, priority),
                precedence=_precedence(resource),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise info.error(f"does not make a valid need ({field}: {first['msg']})") from exc
        thread = NeedThread(
            need_id=need_id,
            originating_message_id=message.thread_origin,
            last_message_id=message.message_id,
            resource_info_element_id=element_id,
            incident_id=message.incident_id,
        )
        event_id = derived_id("edxl-rm", message.message_id, element_id)
        needs.append(RequestedNeed(event_id, need, thread))
    return RmTranslation(message, tuple(needs))


# --------------------------------------------------------------------------- messages out

ET.register_namespace("rmsg", RM_MSG_NS)  # readable prefixes in what partners receive
ET.register_namespace("rm", RM_NS)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One EDXL-RM message we send, and the threads as they stand after it."""

    message_id: str
    message_type: str
    xml: bytes
    threads: tuple[NeedThread, ...]


@dataclass(frozen=True, slots=True)
class _Item:
    thread: NeedThread
    response: Literal["Accept", "Decline", "Provisional"] | None
    commodity: str
    quantity_kg: int | None
    vehicle_id: str | None = None
    order_id: str | None = None
    schedule: tuple[str, datetime | None, str | None] | None = None  # type, when, node
    reason: tuple[str, str] | None = None  # code, text
    status: str | None = None


def _m(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{RM_MSG_NS}}}{name}")
    if text is not None:
        el.text = text
    return el


def _c(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{RM_NS}}}{name}")
    if text is not None:
        el.text = text
    return el


def _value_list_out(parent: ET.Element, urn: str, value: str) -> None:
    _c(parent, "ValueListURN", urn)
    _c(parent, "Value", value)


def _build(
    message_type: str,
    message_id: str,
    sent: datetime,
    description: str,
    items: Sequence[_Item],
) -> OutboundMessage:
    threads = [i.thread for i in items]
    root = ET.Element(f"{{{RM_MSG_NS}}}{message_type}")
    _m(root, "MessageID", message_id)
    _m(root, "SentDateTime", sent.isoformat(timespec="seconds"))
    _m(root, "MessageContentType", message_type)
    _m(root, "MessageDescription", description)
    _m(root, "OriginatingMessageID", threads[0].originating_message_id)
    for preceding in dict.fromkeys(t.last_message_id for t in threads):
        _m(root, "PrecedingMessageID", preceding)
    incident = next((t.incident_id for t in threads if t.incident_id), None)
    if incident is not None:
        _c(_m(root, "IncidentInformation"), "IncidentID", incident)
    contact = _m(root, "ContactInformation")
    _c(contact, "ContactDescription", "Hinterland logistics coordination")
    _c(contact, "ContactRole", "Sender")
    for item in items:
        info = _m(root, "ResourceInformation")
        _m(info, "ResourceInfoElementID", item.thread.need_id)
        if item.response is not None:
            response = _m(info, "ResponseInformation")
            _c(response, "PrecedingResourceInfoElementID", item.thread.resource_info_element_id)
            _c(response, "ResponseType", item.response)
            if item.reason is not None:
                _value_list_out(_c(response, "ReasonCode"), REASON_LIST, item.reason[0])
                _c(response, "ResponseReason", item.reason[1])
        resource = _m(info, "Resource")
        if item.vehicle_id is not None:
            _m(resource, "ResourceID", item.vehicle_id)
        _m(resource, "Name", item.commodity)
        _value_list_out(_m(resource, "TypeStructure"), COMMODITY_LIST, item.commodity)
        if item.status is not None:
            status = _m(resource, "ResourceStatus")
            _value_list_out(_m(status, "DeploymentStatus"), STATUS_LIST, item.status)
        if item.quantity_kg is not None or item.order_id is not None:
            assignment = _m(info, "AssignmentInformation")
            if item.quantity_kg is not None:
                measured = _c(_m(assignment, "Quantity"), "MeasuredQuantity")
                _c(measured, "Amount", str(item.quantity_kg))
                _value_list_out(_c(measured, "UnitOfMeasure"), UNIT_LIST, "kg")
            if item.order_id is not None:
                _m(assignment, "OrderID", item.order_id)
        if item.schedule is not None:
            kind, when, node = item.schedule
            schedule = _m(info, "ScheduleInformation")
            _m(schedule, "ScheduleType", kind)
            if when is not None:
                _m(schedule, "DateTime", when.isoformat(timespec="seconds"))
            if node is not None:
                _c(_m(schedule, "Location"), "LocationDescription", node)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    parse_message(xml)  # what we send obeys the rules we hold partners to
    advanced = tuple(replace(t, last_message_id=message_id) for t in threads)
    return OutboundMessage(message_id, message_type, xml, advanced)


def _per_thread(items: Iterable[_Item]) -> dict[str, list[_Item]]:
    groups: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        groups[item.thread.originating_message_id].append(item)
    return dict(sorted(groups.items()))


def commit_for_order(
    order: DispatchOrderIssued, threads: Mapping[str, NeedThread], *, sent: datetime
) -> list[OutboundMessage]:
    """CommitResource (Accept) for each request thread a dispatch order serves.

    The order exists once reserves answered every reservation, so its quantities are
    committed stock; one message per originating request, one item per need, with the
    committed kilograms, the vehicle, the order id and the estimated arrival at the need's
    node. Needs that did not come in over EDXL-RM (no thread) are skipped.
    """
    per_need: dict[str, list[tuple[int, datetime, str, str]]] = defaultdict(list)
    for stop in order.stops:
        if stop.action == "unload" and stop.need_id is not None and stop.need_id in threads:
            per_need[stop.need_id].append(
                (stop.quantity_kg, stop.eta, stop.node_id, stop.commodity)
            )
    items = [
        _Item(
            thread=threads[need_id],
            response="Accept",
            commodity=rows[0][3],
            quantity_kg=sum(r[0] for r in rows),
            vehicle_id=order.vehicle_id,
            order_id=order.order_id,
            schedule=("EstimatedArrival", min(r[1] for r in rows), rows[0][2]),
        )
        for need_id, rows in sorted(per_need.items())
    ]
    return [
        _build(
            "CommitResource",
            f"HL-{derived_id('rm-commit-order', order.order_id, origin)}",
            sent,
            f"Hinterland dispatch order {order.order_id} (plan {order.plan_id}) commits reserves",
            group,
        )
        for origin, group in _per_thread(items).items()
    ]


def commit_for_plan(
    plan: PlanPublished,
    threads: Mapping[str, NeedThread],
    commodities: Mapping[str, str],
    *,
    sent: datetime,
) -> list[OutboundMessage]:
    """CommitResource per request thread for a published plan, before stock is reserved.

    Served and partly served needs are ``Provisional`` (planned kilograms, first ETA);
    unserved needs are ``Decline`` with the plan's reason as ReasonCode
    (``urn:hinterland:unserved-reason``) and its detail as ResponseReason. ``commodities``
    maps need id to commodity code (the plan's need entries do not carry it).
    """
    items: list[_Item] = []
    for entry in sorted(plan.needs, key=lambda n: n.need_id):
        thread = threads.get(entry.need_id)
        if thread is None:
            continue
        commodity = commodities.get(entry.need_id, "unknown")
        if entry.status == "unserved" or entry.served_kg == 0:
            detail = entry.detail or "no transport plan could serve this need"
            items.append(
                _Item(
                    thread,
                    "Decline",
                    commodity,
                    None,
                    reason=(entry.reason or "no_stock", detail),
                )
            )
            continue
        eta = min((s.eta for s in entry.sources), default=None)
        reason = None
        if entry.status == "partial":
            text = f"partial: {entry.served_kg} of {entry.requested_kg} kg planned"
            reason = (entry.reason or "no_stock", f"{text}; {entry.detail}".rstrip("; "))
        items.append(
            _Item(
                thread,
                "Provisional",
                commodity,
                entry.served_kg,
                schedule=("EstimatedArrival", eta, None) if eta else None,
                reason=reason,
            )
        )
    return [
        _build(
            "CommitResource",
            f"HL-{derived_id('rm-commit-plan', plan.plan_id, origin)}",
            sent,
            f"Hinterland plan {plan.plan_id} v{plan.version}: provisional commitment",
            group,
        )
        for origin, group in _per_thread(items).items()
    ]


def deployment_status(
    progress: OrderProgressReported,
    threads: Mapping[str, NeedThread],
    *,
    sent: datetime,
    cause_id: str,
    order: DispatchOrderIssued | None = None,
) -> list[OutboundMessage]:
    """ReportResourceDeploymentStatus per request thread the progress report touches.

    Stages map to DeploymentStatus values (``urn:hinterland:deployment-status``): loaded ->
    InTransit, unloaded -> Delivered, completed -> Completed, broken_down -> Interrupted.
    ``completed`` carries no cargo, so the needs come from ``order`` when given.
    ``cause_id`` (the progress event's id) makes the message ids stable across replays.
    """
    amounts: dict[str, tuple[str, int]] = {}
    for cargo in progress.cargo:
        commodity, kg = amounts.get(cargo.need_id, (cargo.commodity, 0))
        amounts[cargo.need_id] = (commodity, kg + cargo.quantity_kg)
    if progress.stage == "completed" and order is not None:
        for stop in order.stops:
            if stop.action == "unload" and stop.need_id is not None:
                amounts.setdefault(stop.need_id, (stop.commodity, 0))
    status = DEPLOYMENT_STATUS[progress.stage]
    schedule_type = "ActualArrival" if progress.stage == "unloaded" else "Current"
    items = [
        _Item(
            thread=threads[need_id],
            response=None,
            commodity=commodity,
            quantity_kg=kg or None,
            vehicle_id=progress.vehicle_id,
            order_id=progress.order_id,
            schedule=(schedule_type, sent, progress.node_id),
            status=status,
        )
        for need_id, (commodity, kg) in sorted(amounts.items())
        if need_id in threads
    ]
    return [
        _build(
            "ReportResourceDeploymentStatus",
            f"HL-{derived_id('rm-status', cause_id, origin)}",
            sent,
            f"Hinterland order {progress.order_id}: {progress.stage} at {progress.node_id}",
            group,
        )
        for origin, group in _per_thread(items).items()
    ]
