"""XML in, contract envelopes out: the one entry point the HTTP API and the bus adapter share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from contracts.envelope import Envelope, Mode
from contracts.incidents import (
    DisruptionReportedV1,
    DisruptionWithdrawn,
    DisruptionWithdrawnV1,
    NeedRaisedV1,
)
from services.standards import cap, edxl_rm
from services.standards.errors import StandardsError
from services.standards.network import Network
from services.standards.threads import NeedThread

Kind = Literal["cap", "edxl-rm"]
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True, slots=True)
class Translation:
    """Everything one document means: events to publish and EDXL-RM threads to remember."""

    envelopes: tuple[Envelope, ...] = ()
    threads: tuple[NeedThread, ...] = ()


def _cap(document: bytes, network: Network, mode: Mode) -> Translation:
    t = cap.translate_alert(document, network)
    if t.mode != mode:
        raise StandardsError(
            "alert/status",
            f"status '{t.alert.status}' is {t.mode}, but this Hinterland runs {mode}: "
            "exercise and live state are never mixed",
            problem="unsupported",
        )
    if t.withdrawal is not None:
        w = t.withdrawal
        withdrawn = DisruptionWithdrawnV1(
            id=t.event_id,
            source=cap.SOURCE,
            time=t.alert.sent,
            subject=w.disruption_id,
            correlationid=w.disruption_id,
            mode=t.mode,
            classification=t.classification,
            data=DisruptionWithdrawn(
                disruption_id=w.disruption_id, reason=w.reason, withdrawn_at=w.withdrawn_at
            ),
        )
        return Translation(envelopes=(withdrawn,))
    assert t.disruption is not None
    envelope = DisruptionReportedV1(
        id=t.event_id,
        source=cap.SOURCE,
        time=t.alert.sent,
        subject=t.disruption.disruption_id,
        correlationid=t.disruption.disruption_id,
        mode=t.mode,
        classification=t.classification,
        data=t.disruption,
    )
    return Translation(envelopes=(envelope,))


def _edxl_rm(document: bytes, network: Network, mode: Mode) -> Translation:
    t = edxl_rm.translate_request(document, network)
    envelopes = tuple(
        NeedRaisedV1(
            id=n.event_id,
            source=edxl_rm.SOURCE,
            time=t.message.sent,
            subject=n.need.need_id,
            correlationid=t.message.thread_origin,
            mode=mode,
            data=n.need,
        )
        for n in t.needs
    )
    return Translation(envelopes=envelopes, threads=tuple(n.thread for n in t.needs))


def translate(kind: str, document: bytes, *, network: Network, mode: Mode = "live") -> Translation:
    """Validate and translate one CAP alert or EDXL-RM message.

    Event ids derive from the document (alert sender/identifier/sent, RM MessageID and item),
    so posting the same document twice publishes the same ids and consumers apply it once.
    Raises :class:`StandardsError` naming the element and rule; then nothing is to be published.
    """
    if kind == "cap":
        return _cap(document, network, mode)
    if kind == "edxl-rm":
        return _edxl_rm(document, network, mode)
    raise StandardsError(
        "kind", f"'{kind}' is not a standard Hinterland reads ({', '.join(KINDS)})"
    )


def translate_bus_entry(
    kind: Kind | str, xml: bytes, *, network: Network, mode: Mode = "live"
) -> list[Envelope]:
    """The envelopes to publish for one ``ingress.xml`` entry (fields ``kind`` and ``xml``):
    a disruption for a CAP Alert/Update, its withdrawal for a Cancel, needs for EDXL-RM."""
    return list(translate(kind, xml, network=network, mode=mode).envelopes)
