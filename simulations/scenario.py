"""Scenario files (YAML, validated by pydantic) and their replay as timed ingress events."""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts import streams
from contracts.common import Commodity, Identifier, Owner, TransportMode
from contracts.envelope import Classification, Envelope, Mode, Payload
from contracts.incidents import (
    DisruptionReported,
    DisruptionReportedV1,
    NeedRaised,
    NeedRaisedV1,
)
from contracts.reserves import (
    DepotRegistered,
    DepotRegisteredV1,
    DepotTier,
    StockLevelReported,
    StockLevelReportedV1,
)
from contracts.transport import (
    AssetRegistered,
    AssetRegisteredV1,
    AssetStatusChanged,
    AssetStatusChangedV1,
    LinkRegisteredV1,
    LinkStatusChanged,
    LinkStatusChangedV1,
    NodeRegisteredV1,
    NodeStatusChanged,
    NodeStatusChangedV1,
)
from simulations.geography import CLUSTERS, Network, build_network

SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"
NAMESPACE: Final = uuid.UUID("5d1f3c2a-8e4b-5f60-9a7c-1b2d3e4f5a60")
"""uuid5 namespace of exercise event ids: ``uuid5(NAMESPACE, f"{run_id}:{index}")``."""

InjectEvent = Literal[
    "disruption_reported",
    "need_raised",
    "stock_level_reported",
    "asset_status_changed",
    "link_status_changed",
    "node_status_changed",
]

_INJECT_CLASSES: Final[dict[str, tuple[type[Envelope], type[Payload], str]]] = {
    "disruption_reported": (DisruptionReportedV1, DisruptionReported, "disruption_id"),
    "need_raised": (NeedRaisedV1, NeedRaised, "need_id"),
    "stock_level_reported": (StockLevelReportedV1, StockLevelReported, "depot_id"),
    "asset_status_changed": (AssetStatusChangedV1, AssetStatusChanged, "asset_id"),
    "link_status_changed": (LinkStatusChangedV1, LinkStatusChanged, "link_id"),
    "node_status_changed": (NodeStatusChangedV1, NodeStatusChanged, "node_id"),
}
"""Inject short name -> (event class, payload class, payload field used as subject)."""


class ScenarioError(ValueError):
    """A scenario file is missing or invalid; the message names file, line and field path."""

    def __init__(self, file: Path | str, problems: Sequence[str]) -> None:
        self.file = str(file)
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


# --- the file format ---------------------------------------------------------------------------


class _Spec(BaseModel):
    # Typos in scenario keys must fail loudly rather than be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSpec(_Spec):
    clusters: list[str] = Field(default_factory=lambda: list(CLUSTERS), min_length=1)
    nodes: list[Identifier] | None = Field(
        None, description="If set, keep only these nodes and the links between them."
    )

    @field_validator("clusters")
    @classmethod
    def _known(cls, clusters: list[str]) -> list[str]:
        for c in clusters:
            if c not in CLUSTERS:
                raise ValueError(f"unknown cluster {c!r}; expected one of {list(CLUSTERS)}")
        return clusters


class DepotSpec(_Spec):
    depot_id: Identifier
    name: str = Field(min_length=1)
    node_id: Identifier
    tier: DepotTier
    owner: Owner = "civil"
    stock: dict[Commodity, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="Tonnes on hand per commodity at the start."
    )
    classification: Classification = "public"


class AssetSpec(_Spec):
    asset_id: Identifier = Field(description="Prefix; assets get ids prefix-01, prefix-02...")
    name: str = ""
    mode: TransportMode
    capacity_t: float = Field(gt=0)
    speed_kmh: float = Field(gt=0)
    home_node_id: Identifier
    owner: Owner = "civil"
    count: int = Field(1, ge=1, le=999)
    classification: Classification = "public"

    def expand(self) -> list[AssetRegistered]:
        """The ``count`` individual assets this line stands for."""
        return [
            AssetRegistered(
                asset_id=f"{self.asset_id}-{i:02d}",
                name=f"{self.name} {i:02d}" if self.name else "",
                mode=self.mode,
                capacity_t=self.capacity_t,
                speed_kmh=self.speed_kmh,
                home_node_id=self.home_node_id,
                owner=self.owner,
            )
            for i in range(1, self.count + 1)
        ]


class InjectSpec(_Spec):
    at_h: float = Field(ge=0, description="Hours after the scenario start.")
    event: InjectEvent
    classification: Classification | None = None
    data: dict[str, Any]


class ScenarioSpec(_Spec):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = ""
    narrative: str = ""
    seed: int = 0
    start: AwareDatetime
    duration_h: float = Field(gt=0)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    depots: list[DepotSpec] = Field(default_factory=list)
    assets: list[AssetSpec] = Field(default_factory=list)
    timeline: list[InjectSpec] = Field(default_factory=list)


# --- the validated scenario --------------------------------------------------------------------


@dataclass(frozen=True)
class TimedEvent:
    """One event to publish at simulated time ``at`` on ``stream``."""

    at: datetime
    stream: str
    event: Envelope


@dataclass(frozen=True)
class Inject:
    """A timeline entry turned into a validated contract payload."""

    at: datetime
    at_h: float
    event: InjectEvent
    payload: Payload
    subject: str
    classification: Classification
    index: int  # position in the file's timeline, for messages


@dataclass(frozen=True)
class _Draft:
    at: datetime
    cls: type[Envelope]
    subject: str
    payload: Payload
    classification: Classification


@dataclass(frozen=True)
class Scenario:
    """A loaded, cross-checked scenario; ``events()`` replays it."""

    spec: ScenarioSpec
    network: Network
    assets: tuple[tuple[AssetRegistered, Classification], ...]
    injects: tuple[Inject, ...] = field(default=())
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def narrative(self) -> str:
        return self.spec.narrative

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def start(self) -> datetime:
        return self.spec.start

    @property
    def duration_h(self) -> float:
        return self.spec.duration_h

    @property
    def end(self) -> datetime:
        return self.spec.start + timedelta(hours=self.spec.duration_h)

    @property
    def source(self) -> str:
        return f"/hinterland/exercise/{self.spec.name}"

    def _drafts(self) -> list[_Draft]:
        start = self.spec.start
        drafts = [
            _Draft(start, NodeRegisteredV1, n.node_id, n, "public") for n in self.network.nodes
        ]
        drafts += [
            _Draft(start, LinkRegisteredV1, lk.link_id, lk, "public") for lk in self.network.links
        ]
        for d in self.spec.depots:
            depot = DepotRegistered(
                depot_id=d.depot_id, name=d.name, node_id=d.node_id, tier=d.tier, owner=d.owner
            )
            drafts.append(_Draft(start, DepotRegisteredV1, d.depot_id, depot, d.classification))
            for commodity in sorted(d.stock):
                stock = StockLevelReported(
                    depot_id=d.depot_id, commodity=commodity, quantity=d.stock[commodity], unit="t"
                )
                drafts.append(
                    _Draft(start, StockLevelReportedV1, d.depot_id, stock, d.classification)
                )
        drafts += [
            _Draft(start, AssetRegisteredV1, a.asset_id, a, classification)
            for a, classification in self.assets
        ]
        drafts += [
            _Draft(i.at, _INJECT_CLASSES[i.event][0], i.subject, i.payload, i.classification)
            for i in self.injects
        ]
        return drafts

    def events(self, run_id: str, mode: Mode = "exercise") -> list[TimedEvent]:
        """The world at ``start``, then the injects in time order; same run id, same bytes."""
        if not run_id:
            raise ValueError("run_id must not be empty")
        out: list[TimedEvent] = []
        for index, d in enumerate(self._drafts()):
            envelope = d.cls.model_validate(
                {
                    "id": str(uuid.uuid5(NAMESPACE, f"{run_id}:{index}")),
                    "source": self.source,
                    "time": d.at,
                    "subject": d.subject,
                    "correlationid": run_id,
                    "mode": mode,
                    "classification": d.classification,
                    "data": d.payload,
                }
            )
            out.append(TimedEvent(at=d.at, stream=streams.INGRESS, event=envelope))
        return out


# --- loading -----------------------------------------------------------------------------------


def available_scenarios() -> list[str]:
    """Names of the scenario files shipped in ``simulations/scenarios``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A path as given, or the file ``<name>.yaml`` in ``simulations/scenarios``."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or len(candidate.parts) > 1 or candidate.exists():
        return candidate
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and check a scenario; raises ``ScenarioError`` naming file, line, field and fix."""
    path = resolve_scenario_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        known = ", ".join(available_scenarios()) or "none"
        raise ScenarioError(
            path, [f"{path}: cannot read scenario ({exc.strerror}); shipped scenarios: {known}"]
        ) from exc
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path | str = "<string>") -> Scenario:
    """Parse and check scenario YAML ``text``; ``path`` is only used in messages."""
    file = str(path)
    try:
        raw = yaml.safe_load(text)
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(file, [f"{where}: invalid YAML: {problem}"]) from exc
    locate = _Locator(file, tree)
    if not isinstance(raw, dict):
        raise ScenarioError(file, [f"{file}: expected a mapping of scenario fields at the top"])
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(file, _pydantic_problems(exc, (), locate)) from exc
    return _Checker(spec, locate, Path(file)).check()


def _path_text(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Locator:
    """Maps a field path to ``file:line`` using the composed YAML node tree."""

    def __init__(self, file: str, tree: yaml.Node | None) -> None:
        self.file = file
        self.tree = tree

    def __call__(self, loc: Sequence[str | int], message: str) -> str:
        return f"{self._where(loc)}: {_path_text(loc)}: {message}"

    def _where(self, loc: Sequence[str | int]) -> str:
        node = self.tree
        if node is None:
            return self.file
        line = node.start_mark.line
        for part in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                child = node.value[part] if 0 <= part < len(node.value) else None
            if child is None:
                break
            node = child
            line = node.start_mark.line
        return f"{self.file}:{line + 1}"


def _pydantic_problems(
    exc: ValidationError, prefix: tuple[str | int, ...], locate: _Locator
) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        message = err["msg"]
        given = err.get("input")
        if err["type"] != "missing" and isinstance(given, str | int | float | bool):
            message += f" (got {given!r})"
        problems.append(locate(loc, message))
    return problems


def _suggest(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    """Cross-checks a schema-valid spec: references, duplicates, times; builds the Scenario."""

    def __init__(self, spec: ScenarioSpec, locate: _Locator, path: Path) -> None:
        self.spec = spec
        self.locate = locate
        self.path = path
        self.problems: list[str] = []
        self.network = build_network(spec.network.clusters)
        if spec.network.nodes is not None:
            for i, n in enumerate(spec.network.nodes):
                self.known(("network", "nodes", i), n, "node", self.network.node_ids)
            if not self.problems:
                self.network = self.network.restricted_to(spec.network.nodes)

    def fail(self, loc: Sequence[str | int], message: str) -> None:
        self.problems.append(self.locate(loc, message))

    def known(self, loc: Sequence[str | int], value: str, kind: str, ids: Iterable[str]) -> None:
        ids = set(ids)
        if value not in ids:
            self.fail(loc, f"unknown {kind} {value!r}{_suggest(value, ids)}")

    def unique(
        self, seen: dict[str, tuple[str | int, ...]], loc: tuple[str | int, ...], value: str
    ) -> None:
        if value in seen:
            self.fail(loc, f"duplicate id {value!r} (first at {_path_text(seen[value])})")
        else:
            seen[value] = loc

    def check(self) -> Scenario:
        nodes = self.network.node_ids
        depot_seen: dict[str, tuple[str | int, ...]] = {}
        for i, d in enumerate(self.spec.depots):
            self.unique(depot_seen, ("depots", i, "depot_id"), d.depot_id)
            self.known(("depots", i, "node_id"), d.node_id, "node", nodes)

        asset_seen: dict[str, tuple[str | int, ...]] = {}
        assets: list[tuple[AssetRegistered, Classification]] = []
        for i, a in enumerate(self.spec.assets):
            self.known(("assets", i, "home_node_id"), a.home_node_id, "node", nodes)
            for asset in a.expand():
                self.unique(asset_seen, ("assets", i, "asset_id"), asset.asset_id)
                assets.append((asset, a.classification))

        injects = [
            inject
            for i, spec in enumerate(self.spec.timeline)
            if (inject := self.inject(i, spec, set(depot_seen), set(asset_seen))) is not None
        ]
        self.check_unique_inject_ids(injects)
        if self.problems:
            raise ScenarioError(self.path, self.problems)
        return Scenario(
            spec=self.spec,
            network=self.network,
            assets=tuple(assets),
            # sorted() is stable: equal times keep their order in the file.
            injects=tuple(sorted(injects, key=lambda x: x.at_h)),
            path=self.path,
        )

    def inject(self, i: int, spec: InjectSpec, depots: set[str], assets: set[str]) -> Inject | None:
        base: tuple[str | int, ...] = ("timeline", i)
        if spec.at_h > self.spec.duration_h:
            self.fail(
                (*base, "at_h"),
                f"inject at {spec.at_h} h is after the end of the scenario "
                f"(duration_h {self.spec.duration_h})",
            )
        at = self.spec.start + timedelta(hours=spec.at_h)
        _, payload_cls, subject_field = _INJECT_CLASSES[spec.event]
        data = dict(spec.data)
        allowed = set(payload_cls.model_fields)
        usable = True
        if spec.event == "disruption_reported":
            data.setdefault("observed_at", at)
        if spec.event == "need_raised" and "deadline_h" in data:
            allowed.add("deadline_h")
            hours = data.pop("deadline_h")
            if "deadline" in data:
                usable = False
                self.fail((*base, "data", "deadline_h"), "give deadline or deadline_h, not both")
            elif isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
                usable = False
                self.fail(
                    (*base, "data", "deadline_h"),
                    f"expected a number of hours > 0 after the inject (got {hours!r})",
                )
            else:
                data["deadline"] = at + timedelta(hours=hours)
        for key in spec.data:
            if key not in allowed:
                self.fail(
                    (*base, "data", key), f"unknown field for {spec.event}{_suggest(key, allowed)}"
                )
        if not usable:
            return None
        try:
            payload = payload_cls.model_validate(data)
        except ValidationError as exc:
            self.problems += _pydantic_problems(exc, (*base, "data"), self.locate)
            return None
        self.check_references(base, payload, depots, assets)
        return Inject(
            at=at,
            at_h=spec.at_h,
            event=spec.event,
            payload=payload,
            subject=str(getattr(payload, subject_field)),
            classification=spec.classification or "public",
            index=i,
        )

    def check_references(
        self, base: tuple[str | int, ...], payload: Payload, depots: set[str], assets: set[str]
    ) -> None:
        nodes, links = self.network.node_ids, self.network.link_ids
        at = (*base, "data")
        if isinstance(payload, DisruptionReported):
            for j, link in enumerate(payload.links):
                self.known((*at, "links", j), link, "link", links)
            for j, node in enumerate(payload.nodes):
                self.known((*at, "nodes", j), node, "node", nodes)
            for j, depot in enumerate(payload.depots):
                self.known((*at, "depots", j), depot, "depot", depots)
        elif isinstance(payload, NeedRaised | NodeStatusChanged):
            self.known((*at, "node_id"), payload.node_id, "node", nodes)
        elif isinstance(payload, StockLevelReported):
            self.known((*at, "depot_id"), payload.depot_id, "depot", depots)
        elif isinstance(payload, LinkStatusChanged):
            self.known((*at, "link_id"), payload.link_id, "link", links)
        elif isinstance(payload, AssetStatusChanged):
            self.known((*at, "asset_id"), payload.asset_id, "asset", assets)
            if payload.node_id is not None:
                self.known((*at, "node_id"), payload.node_id, "node", nodes)

    def check_unique_inject_ids(self, injects: Sequence[Inject]) -> None:
        seen: dict[str, dict[str, tuple[str | int, ...]]] = {"need_id": {}, "disruption_id": {}}
        for inject in injects:
            for key, ids in seen.items():
                value = getattr(inject.payload, key, None)
                if isinstance(value, str):
                    self.unique(ids, ("timeline", inject.index, "data", key), value)
