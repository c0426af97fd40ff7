"""Scenario files (YAML, validated by pydantic) and their replay as timed ingress events.

A scenario is data: a seed, a network (clusters of real places), depots, assets and a timeline
of injects at simulated hours after ``start``. Issue 4 added to the foundation's format:

**Parameters.** ``parameters: {repair_h: 24, p: {default: 0.1, min: 0, max: 1}}`` declares
named values (number, text or true/false; a bare value is the default). Anywhere else in the
file, and in included files, ``$name`` or ``${name}`` stands for one: a value that is exactly one
reference takes the parameter's type (``at_h: $repair_h`` is a number), inside longer text it is
interpolated, ``$$`` is a literal ``$``. Inside flow mappings (``{...}``) write ``$name`` or quote
the braced form. ``load_scenario(name, overrides={"repair_h": 12})`` changes values; an unknown
name, a value of another type than the default, or one outside ``min``/``max`` is an error.

**Random disruptions.** Each rule of ``random_disruptions`` (``id``, ``probability``,
``window_h: [from, to]``, candidate ``links``/``nodes``/``depots``, ``kind``, ``severity``,
``degrade_factor``, ``repair_h``, ``description``) fails each candidate independently with the
probability, at a uniform time in the window. A candidate's draw depends only on (seed, rule
id, candidate): the same seed gives the same injects, another seed others, and adding a
candidate changes no other draw. A failure is an ordinary ``disruption_reported`` inject with id
``<rule id>-<candidate>``, plus a ``link_status_changed``/``node_status_changed`` back to open
``repair_h`` later when that is within the scenario. ``load_scenario(..., seed=7)`` replaces the
file's seed (Monte Carlo).

**Generated world.** ``generate: {depots, assets, needs}`` synthesises, from the seed, depots on
the network's real places, trucks at each generated depot, and needs over a time window: the
national stress scenario describes thousands of needs in a few lines. Ids are numbered.

**Expected outcomes.** Any timeline entry may carry ``expect: [...]`` (see
``simulations.expectations``); ``Scenario.expectations`` lists them bound to their inject time.

**Vehicle breakdowns.** ``event: vehicle_breakdown, data: {asset_id, repair_h?}`` is not a
contract event: the execution simulator reads ``Scenario.breakdowns``; ``events()`` omits them.

**Include and override.** ``include: other.yaml`` (or a list) loads those files first (a path
relative to the including file, else a shipped scenario name such as ``sichuan-earthquake``),
then merges this file on top:

- mappings merge key by key, recursively; for anything else this file's value wins;
- lists are appended, this file's items after the included ones, except that a depot or asset
  whose ``depot_id``/``asset_id`` equals an included one is merged into that one in place (so
  ``{depot_id: D-YA-PROV, stock: {water: 0}}`` changes one figure of one depot);
- ``replace: [timeline, network.nodes]`` names dotted keys whose value this file replaces
  outright, or removes when this file does not give them.

Included files may include others; a cycle is an error. ``parameters`` merge like any mapping
(a file can change the default of a parameter an included file declares) and substitution
happens once, after merging. Every error names the file the offending value comes from (the
included one, if that is where it is written), its line, the field path and, for a mistyped
id, a suggestion.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import random
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts import streams
from contracts.common import Commodity, Identifier, Owner, Priority, TransportMode, to_kg
from contracts.envelope import Classification, Envelope, Mode, Payload
from contracts.incidents import (
    DisruptionKind,
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
from simulations.expectations import Expectation, ExpectationSpec, NeedOutcome
from simulations.geography import ALL_CLUSTERS, CLUSTERS, Network, build_network

SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"
MAX_HOURS: Final = 10 * 8760
"""Ten years: the longest span a scenario time may name (beyond, the calendar overflows)."""
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
"""Timeline events published as contract events."""

TimelineEvent = Literal[
    "disruption_reported",
    "need_raised",
    "stock_level_reported",
    "asset_status_changed",
    "link_status_changed",
    "node_status_changed",
    "vehicle_breakdown",
]
"""Every ``event:`` a timeline entry may have; ``vehicle_breakdown`` is not published."""

ParamValue = bool | int | float | str

_INJECT_CLASSES: Final[dict[str, tuple[type[Envelope], type[Payload], str]]] = {
    "disruption_reported": (DisruptionReportedV1, DisruptionReported, "disruption_id"),
    "need_raised": (NeedRaisedV1, NeedRaised, "need_id"),
    "stock_level_reported": (StockLevelReportedV1, StockLevelReported, "depot_id"),
    "asset_status_changed": (AssetStatusChangedV1, AssetStatusChanged, "asset_id"),
    "link_status_changed": (LinkStatusChangedV1, LinkStatusChanged, "link_id"),
    "node_status_changed": (NodeStatusChangedV1, NodeStatusChanged, "node_id"),
}
"""Inject short name -> (event class, payload class, payload field used as subject)."""

_KEYED_LISTS: Final[dict[tuple[str, ...], str]] = {("depots",): "depot_id", ("assets",): "asset_id"}
"""Lists whose items an including file merges by id instead of appending (see module doc)."""

_PARAM_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFERENCE: Final = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))")
_TAG: Final = "tag:yaml.org,2002:"


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


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"expected [low, high] with low <= high (got {list(pair)})")
    return pair


HoursRange = Annotated[tuple[Annotated[float, Field(ge=0)], float], AfterValidator(_ordered)]
PositiveRange = Annotated[
    tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]], AfterValidator(_ordered)
]
Weight = Annotated[float, Field(gt=0)]


class NetworkSpec(_Spec):
    clusters: list[str] = Field(default_factory=lambda: list(CLUSTERS), min_length=1)
    nodes: list[Identifier] | None = Field(
        None, description="If set, keep only these nodes and the links between them."
    )

    @field_validator("clusters")
    @classmethod
    def _known(cls, clusters: list[str]) -> list[str]:
        for c in clusters:
            if c not in ALL_CLUSTERS:
                raise ValueError(f"unknown cluster {c!r}; expected one of {list(ALL_CLUSTERS)}")
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


class VehicleBreakdownSpec(_Spec):
    """``data`` of a ``vehicle_breakdown`` entry."""

    asset_id: Identifier
    repair_h: float | None = Field(
        None, gt=0, description="Back in service this long after; absent: for good."
    )


class InjectSpec(_Spec):
    at_h: float = Field(description="Hours after the scenario start.")
    event: TimelineEvent
    classification: Classification | None = None
    data: dict[str, Any]
    expect: list[ExpectationSpec] = Field(default_factory=list)


class ParameterSpec(_Spec):
    default: StrictBool | StrictInt | StrictFloat | StrictStr
    description: str = ""
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            return self
        default = self.default
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise ValueError("min and max apply to numbers only")
        problem = _out_of_bounds(self, default)
        if problem:
            raise ValueError(f"default {problem}")
        return self


class RandomDisruptionSpec(_Spec):
    id: Identifier = Field(description="Prefix of the disruption ids it makes.")
    probability: float = Field(ge=0, le=1, description="Per candidate.")
    window_h: HoursRange = Field(description="[from, to] hours after start.")
    kind: DisruptionKind = "link_cut"
    severity: int = Field(3, ge=1, le=5)
    links: list[Identifier] = Field(default_factory=list)
    nodes: list[Identifier] = Field(default_factory=list)
    depots: list[Identifier] = Field(default_factory=list)
    degrade_factor: float | None = Field(None, gt=0, lt=1)
    repair_h: float | None = Field(None, gt=0, description="Links/nodes reopen this much later.")
    description: str = ""

    @model_validator(mode="after")
    def _has_candidates(self) -> Self:
        if not (self.links or self.nodes or self.depots):
            raise ValueError("name the candidate links, nodes or depots")
        if self.repair_h is not None and self.depots:
            raise ValueError("repair_h applies to links and nodes; a lost depot stays lost")
        return self

    def candidates(self) -> list[tuple[str, str, int]]:
        """(field, id, index in that field) for every candidate, in file order."""
        return [
            (name, value, j)
            for name in ("links", "nodes", "depots")
            for j, value in enumerate(getattr(self, name))
        ]


def _default_tiers() -> dict[DepotTier, float]:
    return {"provincial": 1.0, "city": 2.0, "county": 3.0}


def _default_priorities() -> dict[Priority, float]:
    return {"life_saving": 1.0, "sustaining": 2.0, "routine": 1.0}


class GeneratedDepots(_Spec):
    count: int = Field(ge=0, le=10_000)
    id_prefix: Identifier = "D-GEN"
    tiers: dict[DepotTier, Weight] = Field(default_factory=_default_tiers, min_length=1)
    stock_t: dict[Commodity, PositiveRange] = Field(
        min_length=1, description="Per commodity: tonnes drawn uniformly in [low, high]."
    )
    owner: Owner = "civil"
    nodes: list[Identifier] | None = Field(None, description="Default: every node.")


class GeneratedAssets(_Spec):
    per_depot: int = Field(ge=0, le=50, description="Vehicles at each generated depot's node.")
    id_prefix: Identifier = "A-GEN"
    mode: TransportMode = "road"
    capacity_t: float = Field(20, gt=0)
    speed_kmh: float = Field(60, gt=0)
    owner: Owner = "civil"


class GeneratedNeeds(_Spec):
    count: int = Field(ge=0, le=100_000)
    id_prefix: Identifier = "NEED-GEN"
    window_h: HoursRange
    step_h: float = Field(0.25, gt=0, description="Raise times are multiples of this.")
    commodities: dict[Commodity, Weight] = Field(min_length=1)
    quantity_t: PositiveRange
    priorities: dict[Priority, Weight] = Field(default_factory=_default_priorities, min_length=1)
    deadline_h: PositiveRange
    nodes: list[Identifier] | None = Field(None, description="Default: every node.")


class GenerateSpec(_Spec):
    depots: GeneratedDepots | None = None
    assets: GeneratedAssets | None = None
    needs: GeneratedNeeds | None = None


class ScenarioSpec(_Spec):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = ""
    narrative: str = ""
    seed: int = 0
    start: AwareDatetime
    duration_h: float = Field(gt=0, le=MAX_HOURS)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    depots: list[DepotSpec] = Field(default_factory=list)
    assets: list[AssetSpec] = Field(default_factory=list)
    generate: GenerateSpec | None = None
    timeline: list[InjectSpec] = Field(default_factory=list)
    random_disruptions: list[RandomDisruptionSpec] = Field(default_factory=list)


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
    index: int  # position in the file's timeline, for messages; -1 if generated
    expect: tuple[Expectation, ...] = ()
    generated_by: str = ""  # e.g. "random_disruptions[0]" or "generate.needs"


@dataclass(frozen=True)
class Breakdown:
    """A ``vehicle_breakdown`` entry: for the execution simulator, never published as such."""

    at: datetime
    at_h: float
    asset_id: str
    repair_h: float | None  # None: out of service for the rest of the scenario
    index: int  # position in the file's timeline
    expect: tuple[Expectation, ...] = ()


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
    breakdowns: tuple[Breakdown, ...] = ()
    generated_depots: tuple[DepotSpec, ...] = ()
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)
    """Effective parameter values (defaults with the caller's overrides)."""
    sources: tuple[Path, ...] = ()
    """Files read: the scenario file, then every included file."""

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

    @property
    def depots(self) -> tuple[DepotSpec, ...]:
        """The file's depots, then the generated ones."""
        return (*self.spec.depots, *self.generated_depots)

    @property
    def expectations(self) -> tuple[Expectation, ...]:
        """Every inject's expected outcomes, in time order (file order within one time)."""
        entries = [(i.at_h, i.index, e) for i in self.injects for e in i.expect]
        entries += [(b.at_h, b.index, e) for b in self.breakdowns for e in b.expect]
        return tuple(e for _, _, e in sorted(entries, key=lambda x: (x[0], x[1])))

    def _drafts(self) -> list[_Draft]:
        start = self.spec.start
        drafts = [
            _Draft(start, NodeRegisteredV1, n.node_id, n, "public") for n in self.network.nodes
        ]
        drafts += [
            _Draft(start, LinkRegisteredV1, lk.link_id, lk, "public") for lk in self.network.links
        ]
        for d in self.depots:
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
        """The world at ``start``, then the injects in time order; same run id, same bytes.

        Vehicle breakdowns are not among them (see ``breakdowns``).
        """
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


def load_scenario(
    name_or_path: str | Path,
    overrides: Mapping[str, ParamValue] | None = None,
    seed: int | None = None,
) -> Scenario:
    """Load and check a scenario; raises ``ScenarioError`` naming file, line, field and fix.

    Parameters
    ----------
    name_or_path
        A shipped scenario name (``sichuan-earthquake``) or a YAML path.
    overrides
        Values for the scenario's ``parameters`` (unknown names are an error).
    seed
        Replaces the file's ``seed``: random disruptions and generated items change with it.
    """
    path = resolve_scenario_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        known = ", ".join(available_scenarios()) or "none"
        raise ScenarioError(
            path, [f"{path}: cannot read scenario ({exc.strerror}); shipped scenarios: {known}"]
        ) from exc
    return parse_scenario(text, path, overrides=overrides, seed=seed)


def parse_scenario(
    text: str,
    path: Path | str = "<string>",
    overrides: Mapping[str, ParamValue] | None = None,
    seed: int | None = None,
) -> Scenario:
    """Parse and check scenario YAML ``text``; ``path`` names it and anchors its includes."""
    file = str(path)
    assembler = _Assembler()
    tree = assembler.assemble(text, Path(file))
    if not isinstance(tree, yaml.MappingNode):
        raise ScenarioError(file, [f"{file}: expected a mapping of scenario fields at the top"])
    locate = _Locator(file, tree)
    parameters = _parameters(tree, locate, overrides or {}, file)
    tree = _Substitution(parameters, locate).apply(tree)
    locate = _Locator(file, tree)
    raw = yaml.SafeLoader("").construct_document(tree)
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(file, _pydantic_problems(exc, (), locate)) from exc
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    return _Checker(spec, locate, Path(file), parameters, tuple(assembler.sources)).check()


# --- include and merge -------------------------------------------------------------------------


def _compose(text: str, file: str) -> yaml.Node | None:
    """The YAML node tree of ``text``; every mark carries ``file`` as its name."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters already here
        loader.name = file  # marks (hence messages) name the file, included files too
        node: yaml.Node | None = loader.get_single_node()
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; no mark
        line = text[: exc.position].count("\n") + 1
        problem = f"character {exc.character!r} is not allowed in YAML"
        raise ScenarioError(file, [f"{file}:{line}: invalid YAML: {problem}"]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(file, [f"{where}: invalid YAML: {problem}"]) from exc
    finally:
        if loader is not None:
            loader.dispose()
    return node


def _key(node: yaml.Node) -> object:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _get(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    return next((v for k, v in mapping.value if _key(k) == key), None)


def _without(mapping: yaml.MappingNode, keys: Iterable[str]) -> yaml.MappingNode:
    drop = set(keys)
    return yaml.MappingNode(
        mapping.tag,
        [(k, v) for k, v in mapping.value if _key(k) not in drop],
        mapping.start_mark,
        mapping.end_mark,
        mapping.flow_style,
    )


def _line(node: yaml.Node) -> str:
    return f"{node.start_mark.name}:{node.start_mark.line + 1}"


def _strings(node: yaml.Node) -> list[tuple[str, yaml.Node]] | None:
    """A scalar or a list of scalars as (text, node) pairs; None if it is anything else."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not all(isinstance(i, yaml.ScalarNode) and i.tag == f"{_TAG}str" for i in items):
        return None
    return [(str(i.value), i) for i in items]


class _Assembler:
    """Reads a scenario file and its includes into one merged YAML node tree."""

    def __init__(self) -> None:
        self.sources: list[Path] = []

    def assemble(self, text: str, path: Path, stack: tuple[Path, ...] = ()) -> yaml.Node | None:
        file = str(path)
        self.sources.append(path)
        node = _compose(text, file)
        if not isinstance(node, yaml.MappingNode):
            return node
        node = _normalise_parameters(node)
        stack = (*stack, path.resolve())
        include = _get(node, "include")
        replace_node = _get(node, "replace")
        replace: set[tuple[str, ...]] = set()
        problems: list[str] = []
        if replace_node is not None:
            names = _strings(replace_node)
            if names is None or not isinstance(replace_node, yaml.SequenceNode):
                problems.append(f"{_line(replace_node)}: replace: expected a list of dotted keys")
            else:
                replace = {tuple(name.split(".")) for name, _ in names}
        if include is None:
            if replace_node is not None and not problems:
                problems.append(f"{_line(replace_node)}: replace: only meaningful with include")
            if problems:
                raise ScenarioError(file, problems)
            return _without(node, ["replace"])
        names = _strings(include)
        if names is None:
            raise ScenarioError(
                file, [f"{_line(include)}: include: expected a file name or a list of them"]
            )
        base: yaml.Node | None = None
        for name, name_node in names:
            target = self._resolve(name, path.parent)
            if target is None:
                problems.append(
                    f"{_line(name_node)}: include: cannot find {name!r} next to {file} "
                    f"nor among the shipped scenarios ({', '.join(available_scenarios())})"
                )
                continue
            if target.resolve() in stack:
                chain = " -> ".join(str(p) for p in (*stack, target.resolve()))
                problems.append(f"{_line(name_node)}: include: include cycle {chain}")
                continue
            try:
                included_text = target.read_text(encoding="utf-8")
            except OSError as exc:
                problems.append(f"{_line(name_node)}: include: cannot read {target} ({exc})")
                continue
            included = self.assemble(included_text, target, stack)
            if not isinstance(included, yaml.MappingNode):
                problems.append(
                    f"{target}: expected a mapping of scenario fields at the top "
                    f"(included from {_line(name_node)})"
                )
                continue
            base = included if base is None else _merge(base, included, (), set())
        if problems:
            raise ScenarioError(file, problems)
        own = _without(node, ["include", "replace"])
        return own if base is None else _merge(base, own, (), replace)

    @staticmethod
    def _resolve(name: str, here: Path) -> Path | None:
        """A file next to the including one (with or without .yaml), else a shipped scenario."""
        raw = Path(name)
        candidates = [raw if raw.is_absolute() else here / raw]
        if raw.suffix not in (".yaml", ".yml"):
            candidates.append(candidates[0].with_name(candidates[0].name + ".yaml"))
        if len(raw.parts) == 1:
            candidates.append(SCENARIO_DIR / raw)
            candidates.append(SCENARIO_DIR / f"{name}.yaml")
        return next((c for c in candidates if c.is_file()), None)


def _normalise_parameters(node: yaml.MappingNode) -> yaml.MappingNode:
    """``parameters: {p: 3}`` -> ``{p: {default: 3}}``, so that files merge parameters alike."""
    params = _get(node, "parameters")
    if not isinstance(params, yaml.MappingNode):
        return node
    pairs = []
    for k, v in params.value:
        if not isinstance(v, yaml.MappingNode):
            key = yaml.ScalarNode(f"{_TAG}str", "default", v.start_mark, v.end_mark)
            v = yaml.MappingNode(f"{_TAG}map", [(key, v)], v.start_mark, v.end_mark)
        pairs.append((k, v))
    normal = yaml.MappingNode(params.tag, pairs, params.start_mark, params.end_mark)
    return yaml.MappingNode(
        node.tag,
        [(k, normal if _key(k) == "parameters" else v) for k, v in node.value],
        node.start_mark,
        node.end_mark,
    )


def _merge(
    base: yaml.Node, over: yaml.Node, at: tuple[str, ...], replace: set[tuple[str, ...]]
) -> yaml.Node:
    """``over`` merged onto ``base`` (see the module docstring for the rules)."""
    if isinstance(base, yaml.MappingNode) and isinstance(over, yaml.MappingNode):
        pairs = [
            (k, v) for k, v in base.value if (*at, str(_key(k))) not in replace
        ]  # replaced keys absent from ``over`` are removed
        for k, v in over.value:
            here = (*at, str(_key(k)))
            index = next((i for i, (bk, _) in enumerate(pairs) if _key(bk) == _key(k)), None)
            if index is None:
                pairs.append((k, v))
            elif here in replace:
                pairs[index] = (k, v)
            else:
                pairs[index] = (k, _merge(pairs[index][1], v, here, replace))
        return yaml.MappingNode(f"{_TAG}map", pairs, over.start_mark, over.end_mark)
    if isinstance(base, yaml.SequenceNode) and isinstance(over, yaml.SequenceNode):
        items = list(base.value)
        id_key = _KEYED_LISTS.get(at)
        for item in over.value:
            ident = _item_id(item, id_key)
            match = next(
                (
                    i
                    for i, old in enumerate(items)
                    if ident is not None and _item_id(old, id_key) == ident
                ),
                None,
            )
            if match is None:
                items.append(item)
            else:
                items[match] = _merge(items[match], item, (*at, "[]"), replace)
        return yaml.SequenceNode(f"{_TAG}seq", items, over.start_mark, over.end_mark)
    return over


def _item_id(item: yaml.Node, id_key: str | None) -> object:
    if id_key is None or not isinstance(item, yaml.MappingNode):
        return None
    value = _get(item, id_key)
    return _key(value) if value is not None else None


# --- parameters --------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _out_of_bounds(spec: ParameterSpec, value: float) -> str:
    if spec.min is not None and value < spec.min:
        return f"{value!r} is below min {spec.min:g}"
    if spec.max is not None and value > spec.max:
        return f"{value!r} is above max {spec.max:g}"
    return ""


def _type_name(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true/false"
    return "number" if _is_number(value) else "text"


def _override_problem(spec: ParameterSpec, value: object) -> str:
    default = spec.default
    if isinstance(default, bool):
        same_type = isinstance(value, bool)
    elif _is_number(default):
        same_type = _is_number(value)
    else:
        same_type = isinstance(value, str)
    if not same_type:
        return f"expected a {_type_name(default)} like the default {default!r} (got {value!r})"
    if _is_number(value) and isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number (got {value!r})"
        return _out_of_bounds(spec, value)
    return ""


def _parameters(
    tree: yaml.MappingNode,
    locate: _Locator,
    overrides: Mapping[str, object],
    file: str,
) -> dict[str, ParamValue]:
    """Effective parameter values: the declared defaults with the caller's overrides."""
    node = _get(tree, "parameters")
    declared: dict[str, ParameterSpec] = {}
    problems: list[str] = []
    if node is not None:
        if not isinstance(node, yaml.MappingNode):
            raise ScenarioError(file, [locate(("parameters",), "expected a mapping of names")])
        raw = yaml.SafeLoader("").construct_document(node)
        for name, value in raw.items():
            loc: tuple[str | int, ...] = ("parameters", str(name))
            if not isinstance(name, str) or not _PARAM_NAME.match(name):
                problems.append(locate(loc, "a parameter name is letters, digits and _"))
                continue
            try:
                declared[name] = ParameterSpec.model_validate(value)
            except ValidationError as exc:
                problems += _pydantic_problems(exc, loc, locate)
    for name, value in overrides.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(
                f"{file}: overrides.{name}: unknown parameter {name!r}"
                f"{_suggest(name, declared)}; the scenario declares: {known}"
            )
        elif problem := _override_problem(declared[name], value):
            problems.append(f"{file}: overrides.{name}: {problem}")
    if problems:
        raise ScenarioError(file, problems)
    values: dict[str, ParamValue] = {n: p.default for n, p in declared.items()}
    values.update({n: v for n, v in overrides.items() if isinstance(v, bool | int | float | str)})
    return values


def _text(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _typed_scalar(value: ParamValue, like: yaml.Node) -> yaml.ScalarNode:
    """A scalar node that constructs to ``value`` (with ``like``'s place in the file)."""
    if isinstance(value, bool):
        tag, text = "bool", _text(value)
    elif isinstance(value, int):
        tag, text = "int", str(value)
    elif isinstance(value, float):
        tag, text = "float", repr(value)
    else:
        tag, text = "str", value
    return yaml.ScalarNode(f"{_TAG}{tag}", text, like.start_mark, like.end_mark)


class _Substitution:
    """Replaces ``$name``/``${name}`` references in a merged tree by parameter values."""

    def __init__(self, values: Mapping[str, ParamValue], locate: _Locator) -> None:
        self.values = values
        self.locate = locate
        self.problems: list[str] = []

    def apply(self, tree: yaml.MappingNode) -> yaml.MappingNode:
        pairs = [
            (k, v if _key(k) == "parameters" else self.node(v, (str(_key(k)),)))
            for k, v in tree.value
        ]
        if self.problems:
            raise ScenarioError(self.locate.file, self.problems)
        return yaml.MappingNode(tree.tag, pairs, tree.start_mark, tree.end_mark)

    def node(self, node: yaml.Node, loc: tuple[str | int, ...]) -> yaml.Node:
        if isinstance(node, yaml.MappingNode):
            return yaml.MappingNode(
                node.tag,
                [(k, self.node(v, (*loc, str(_key(k))))) for k, v in node.value],
                node.start_mark,
                node.end_mark,
                node.flow_style,
            )
        if isinstance(node, yaml.SequenceNode):
            return yaml.SequenceNode(
                node.tag,
                [self.node(v, (*loc, i)) for i, v in enumerate(node.value)],
                node.start_mark,
                node.end_mark,
                node.flow_style,
            )
        if isinstance(node, yaml.ScalarNode) and node.tag == f"{_TAG}str" and "$" in node.value:
            return self.scalar(node, loc)
        return node

    def lookup(self, name: str, loc: tuple[str | int, ...]) -> ParamValue | None:
        if not _PARAM_NAME.match(name):
            self.problems.append(self.locate(loc, f"invalid parameter reference ${{{name}}}"))
            return None
        if name not in self.values:
            known = ", ".join(sorted(self.values)) or "none"
            self.problems.append(
                self.locate(
                    loc,
                    f"unknown parameter {name!r}{_suggest(name, self.values)}; declared: {known}",
                )
            )
            return None
        return self.values[name]

    def scalar(self, node: yaml.ScalarNode, loc: tuple[str | int, ...]) -> yaml.Node:
        text: str = node.value
        whole = _REFERENCE.fullmatch(text)
        if whole is not None and whole.group(3) is None:
            value = self.lookup(whole.group(1) or whole.group(2), loc)
            return node if value is None else _typed_scalar(value, node)

        def replace(match: re.Match[str]) -> str:
            if match.group(3) is not None:
                return "$"
            value = self.lookup(
                match.group(1) if match.group(1) is not None else match.group(2), loc
            )
            return match.group(0) if value is None else _text(value)

        return yaml.ScalarNode(
            node.tag, _REFERENCE.sub(replace, text), node.start_mark, node.end_mark
        )


# --- messages ----------------------------------------------------------------------------------


def _path_text(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Locator:
    """Maps a field path to ``file:line`` using the composed (and merged) YAML node tree.

    Every node keeps the mark of the file it was read from, so a value that comes from an
    included file is reported at that file's line.
    """

    def __init__(self, file: str, tree: yaml.Node | None) -> None:
        self.file = file
        self.tree = tree

    def __call__(self, loc: Sequence[str | int], message: str) -> str:
        return f"{self._where(loc)}: {_path_text(loc)}: {message}"

    def _where(self, loc: Sequence[str | int]) -> str:
        node = self.tree
        if node is None:
            return self.file
        for part in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                child = node.value[part] if 0 <= part < len(node.value) else None
            if child is None:
                break
            node = child
        return _line(node)


def _pydantic_problems(
    exc: ValidationError, prefix: tuple[str | int, ...], locate: _Locator
) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        if err["type"] != "missing" and isinstance(given, str | int | float | bool):
            message += f" (got {given!r})"
        problems.append(locate(loc, message))
    return problems


def _suggest(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- cross-checks ------------------------------------------------------------------------------

Loc = tuple[str | int, ...]


_Key = TypeVar("_Key", bound=str)


def _draw(rng: random.Random, weights: Mapping[_Key, float]) -> _Key:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class _Checker:
    """Cross-checks a schema-valid spec: references, duplicates, times; builds the Scenario."""

    def __init__(
        self,
        spec: ScenarioSpec,
        locate: _Locator,
        path: Path,
        parameters: Mapping[str, ParamValue] | None = None,
        sources: tuple[Path, ...] = (),
    ) -> None:
        self.spec = spec
        self.locate = locate
        self.path = path
        self.parameters = dict(parameters or {})
        self.sources = sources or (path,)
        self.problems: list[str] = []
        self.network = build_network(spec.network.clusters)
        if spec.network.nodes is not None:
            for i, n in enumerate(spec.network.nodes):
                self.known(("network", "nodes", i), n, "node", self.network.node_ids)
            if not self.problems:
                self.network = self.network.restricted_to(spec.network.nodes)

    def fail(self, loc: Sequence[str | int], message: str) -> None:
        self.problems.append(self.locate(loc, message))

    def known(self, loc: Sequence[str | int], value: str, kind: str, ids: Iterable[str]) -> bool:
        ids = ids if isinstance(ids, set | frozenset) else set(ids)
        if value not in ids:
            self.fail(loc, f"unknown {kind} {value!r}{_suggest(value, ids)}")
            return False
        return True

    def unique(self, seen: dict[str, Loc], loc: Loc, value: str) -> None:
        if value in seen:
            self.fail(loc, f"duplicate id {value!r} (first at {_path_text(seen[value])})")
        else:
            seen[value] = loc

    def check(self) -> Scenario:
        nodes = self.network.node_ids
        generated_depots = self.generated_depots()
        depot_seen: dict[str, Loc] = {}
        for i, d in enumerate(self.spec.depots):
            self.unique(depot_seen, ("depots", i, "depot_id"), d.depot_id)
            self.known(("depots", i, "node_id"), d.node_id, "node", nodes)
        for d in generated_depots:
            self.unique(depot_seen, ("generate", "depots", "id_prefix"), d.depot_id)

        asset_seen: dict[str, Loc] = {}
        assets: list[tuple[AssetRegistered, Classification]] = []
        for i, a in enumerate(self.spec.assets):
            self.known(("assets", i, "home_node_id"), a.home_node_id, "node", nodes)
            for asset in a.expand():
                self.unique(asset_seen, ("assets", i, "asset_id"), asset.asset_id)
                assets.append((asset, a.classification))
        for a in self.generated_assets(generated_depots):
            for asset in a.expand():
                self.unique(asset_seen, ("generate", "assets", "id_prefix"), asset.asset_id)
                assets.append((asset, a.classification))

        depots, asset_ids = set(depot_seen), set(asset_seen)
        located: list[tuple[Inject, Loc]] = []
        breakdowns: list[Breakdown] = []
        for i, entry in enumerate(self.spec.timeline):
            if entry.event == "vehicle_breakdown":
                if (b := self.breakdown(i, entry, asset_ids)) is not None:
                    breakdowns.append(b)
            elif (inject := self.inject(i, entry, depots, asset_ids)) is not None:
                located.append((inject, ("timeline", i, "data")))
        located += self.random_injects(depots)
        located += self.generated_needs()
        self.check_unique_inject_ids(located)
        injects = [inject for inject, _ in located]
        injects, breakdowns = self.bind_expectations(injects, breakdowns)
        if self.problems:
            raise ScenarioError(self.path, self.problems)
        return Scenario(
            spec=self.spec,
            network=self.network,
            assets=tuple(assets),
            # sorted() is stable: equal times keep their order in the file.
            injects=tuple(sorted(injects, key=lambda x: x.at_h)),
            path=self.path,
            breakdowns=tuple(sorted(breakdowns, key=lambda x: x.at_h)),
            generated_depots=tuple(generated_depots),
            parameters=self.parameters,
            sources=self.sources,
        )

    def at_h_ok(self, loc: Loc, at_h: float, what: str = "inject") -> bool:
        if at_h < 0:
            self.fail(
                loc, f"{what} at {at_h:g} h is before the start of the scenario (must be >= 0)"
            )
            return False
        if at_h > self.spec.duration_h:
            self.fail(
                loc,
                f"{what} at {at_h:g} h is after the end of the scenario "
                f"(duration_h {self.spec.duration_h:g})",
            )
            return False
        return True

    def unknown_fields(
        self, base: Loc, data: Mapping[str, Any], event: str, allowed: set[str]
    ) -> None:
        for key in data:
            if key not in allowed:
                self.fail(
                    (*base, "data", key), f"unknown field for {event}{_suggest(key, allowed)}"
                )

    def inject(self, i: int, spec: InjectSpec, depots: set[str], assets: set[str]) -> Inject | None:
        base: Loc = ("timeline", i)
        self.at_h_ok((*base, "at_h"), spec.at_h)
        # Clamped so that a time already reported as out of range cannot overflow the calendar.
        at = self.spec.start + timedelta(hours=min(max(spec.at_h, 0), self.spec.duration_h))
        event: InjectEvent = spec.event  # type: ignore[assignment]  # breakdowns went elsewhere
        _, payload_cls, subject_field = _INJECT_CLASSES[event]
        data = dict(spec.data)
        allowed = set(payload_cls.model_fields)
        usable = True
        if event == "disruption_reported":
            data.setdefault("observed_at", at)
        if event == "need_raised" and "deadline_h" in data:
            allowed.add("deadline_h")
            hours = data.pop("deadline_h")
            if "deadline" in data:
                usable = False
                self.fail((*base, "data", "deadline_h"), "give deadline or deadline_h, not both")
            elif (
                isinstance(hours, bool)
                or not isinstance(hours, int | float)
                or not 0 < hours <= MAX_HOURS
            ):
                usable = False
                self.fail(
                    (*base, "data", "deadline_h"),
                    f"expected a number of hours > 0 and <= {MAX_HOURS} after the inject "
                    f"(got {hours!r})",
                )
            else:
                data["deadline"] = at + timedelta(hours=hours)
        self.unknown_fields(base, spec.data, event, allowed)
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
            event=event,
            payload=payload,
            subject=str(getattr(payload, subject_field)),
            classification=spec.classification or "public",
            index=i,
        )

    def breakdown(self, i: int, spec: InjectSpec, assets: set[str]) -> Breakdown | None:
        base: Loc = ("timeline", i)
        self.at_h_ok((*base, "at_h"), spec.at_h, "breakdown")
        allowed = set(VehicleBreakdownSpec.model_fields)
        self.unknown_fields(base, spec.data, "vehicle_breakdown", allowed)
        try:
            data = VehicleBreakdownSpec.model_validate(
                {k: v for k, v in spec.data.items() if k in allowed}
            )
        except ValidationError as exc:
            self.problems += _pydantic_problems(exc, (*base, "data"), self.locate)
            return None
        self.known((*base, "data", "asset_id"), data.asset_id, "asset", assets)
        return Breakdown(
            at=self.spec.start + timedelta(hours=spec.at_h),
            at_h=spec.at_h,
            asset_id=data.asset_id,
            repair_h=data.repair_h,
            index=i,
        )

    def check_references(
        self, base: Loc, payload: Payload, depots: set[str], assets: set[str]
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

    def check_unique_inject_ids(self, located: Sequence[tuple[Inject, Loc]]) -> None:
        seen: dict[str, dict[str, Loc]] = {"need_id": {}, "disruption_id": {}}
        for inject, loc in located:
            for key, ids in seen.items():
                value = getattr(inject.payload, key, None)
                if isinstance(value, str):
                    self.unique(ids, (*loc, key) if inject.index >= 0 else loc, value)

    # --- random disruptions ---

    def random_injects(self, depots: set[str]) -> list[tuple[Inject, Loc]]:
        out: list[tuple[Inject, Loc]] = []
        seen: dict[str, Loc] = {}
        known = {"links": self.network.link_ids, "nodes": self.network.node_ids, "depots": depots}
        kinds = {"links": "link", "nodes": "node", "depots": "depot"}
        for r, rule in enumerate(self.spec.random_disruptions):
            base: Loc = ("random_disruptions", r)
            self.unique(seen, (*base, "id"), rule.id)
            if rule.window_h[1] > self.spec.duration_h:
                self.fail(
                    (*base, "window_h", 1),
                    f"window ends at {rule.window_h[1]:g} h, after the end of the scenario "
                    f"(duration_h {self.spec.duration_h:g})",
                )
                continue
            for what, candidate, j in rule.candidates():
                if not self.known((*base, what, j), candidate, kinds[what], known[what]):
                    continue
                out += self.materialise(rule, base, what, candidate)
        return out

    def materialise(
        self, rule: RandomDisruptionSpec, base: Loc, what: str, candidate: str
    ) -> list[tuple[Inject, Loc]]:
        """The injects (none, a failure, or a failure and its repair) of one candidate."""
        # A string seed is hashed with SHA-512 by random.Random: stable across runs and
        # machines, and independent per (seed, rule, candidate).
        rng = random.Random(f"{self.spec.seed}:{rule.id}:{candidate}")
        fails, when = rng.random() < rule.probability, rng.random()
        if not fails:
            return []
        low, high = rule.window_h
        at_h = round(low + when * (high - low), 2)
        at = self.spec.start + timedelta(hours=at_h)
        origin = f"{_path_text(base)}"
        description = rule.description or f"random {rule.kind}"
        payload = DisruptionReported(
            disruption_id=f"{rule.id}-{candidate}",
            kind=rule.kind,
            severity=rule.severity,
            observed_at=at,
            degrade_factor=rule.degrade_factor,
            description=f"{description} (p={rule.probability:g}, seed {self.spec.seed})",
            **{what: [candidate]},
        )
        out = [
            (
                Inject(
                    at,
                    at_h,
                    "disruption_reported",
                    payload,
                    payload.disruption_id,
                    "public",
                    -1,
                    generated_by=origin,
                ),
                (*base, "id"),
            )
        ]
        if rule.repair_h is not None and at_h + rule.repair_h <= self.spec.duration_h:
            back_h = round(at_h + rule.repair_h, 2)
            back = self.spec.start + timedelta(hours=back_h)
            cause = f"{payload.disruption_id}: repaired"
            repair: Payload
            if what == "links":
                event: InjectEvent = "link_status_changed"
                repair = LinkStatusChanged(link_id=candidate, status="open", cause=cause)
            else:
                event = "node_status_changed"
                repair = NodeStatusChanged(node_id=candidate, status="open", cause=cause)
            out.append(
                (
                    Inject(
                        back, back_h, event, repair, candidate, "public", -1, generated_by=origin
                    ),
                    (*base, "repair_h"),
                )
            )
        return out

    # --- generated world ---

    def generation_nodes(self, loc: Loc, nodes: list[str] | None) -> list[str]:
        if nodes is None:
            return sorted(self.network.node_ids)
        for j, n in enumerate(nodes):
            self.known((*loc, "nodes", j), n, "node", self.network.node_ids)
        return [n for n in nodes if n in self.network.node_ids]

    def generated_depots(self) -> list[DepotSpec]:
        gen = self.spec.generate.depots if self.spec.generate else None
        if gen is None:
            return []
        places = self.generation_nodes(("generate", "depots"), gen.nodes)
        if not places:
            return []
        rng = random.Random(f"{self.spec.seed}:generate:depots")
        out = []
        for i in range(1, gen.count + 1):
            node = self.network.node(rng.choice(places))
            tier = _draw(rng, gen.tiers)
            stock = {c: float(round(rng.uniform(*gen.stock_t[c]))) for c in sorted(gen.stock_t)}
            out.append(
                DepotSpec(
                    depot_id=f"{gen.id_prefix}-{i:04d}",
                    name=f"{node.name} {tier} reserve {i}",
                    node_id=node.node_id,
                    tier=tier,
                    owner=gen.owner,
                    stock=stock,
                )
            )
        return out

    def generated_assets(self, depots: Sequence[DepotSpec]) -> list[AssetSpec]:
        gen = self.spec.generate.assets if self.spec.generate else None
        if gen is None or gen.per_depot == 0:
            return []
        return [
            AssetSpec(
                asset_id=f"{gen.id_prefix}-{i:04d}",
                name=f"{d.name} {gen.mode} vehicle",
                mode=gen.mode,
                capacity_t=gen.capacity_t,
                speed_kmh=gen.speed_kmh,
                home_node_id=d.node_id,
                owner=gen.owner,
                count=gen.per_depot,
            )
            for i, d in enumerate(depots, start=1)
        ]

    def generated_needs(self) -> list[tuple[Inject, Loc]]:
        gen = self.spec.generate.needs if self.spec.generate else None
        if gen is None:
            return []
        loc: Loc = ("generate", "needs")
        if not self.at_h_ok((*loc, "window_h", 1), gen.window_h[1], "window end"):
            return []
        places = self.generation_nodes(loc, gen.nodes)
        if not places:
            return []
        rng = random.Random(f"{self.spec.seed}:generate:needs")
        low, high = gen.window_h
        steps = math.floor((high - low) / gen.step_h + 1e-9)
        out = []
        for i in range(1, gen.count + 1):
            at_h = round(low + rng.randint(0, steps) * gen.step_h, 4)
            at = self.spec.start + timedelta(hours=at_h)
            payload = NeedRaised(
                need_id=f"{gen.id_prefix}-{i:05d}",
                node_id=rng.choice(places),
                commodity=_draw(rng, gen.commodities),
                quantity=max(0.1, round(rng.uniform(*gen.quantity_t), 1)),
                priority=_draw(rng, gen.priorities),
                deadline=at + timedelta(hours=round(rng.uniform(*gen.deadline_h), 2)),
            )
            inject = Inject(
                at,
                at_h,
                "need_raised",
                payload,
                payload.need_id,
                "public",
                -1,
                generated_by="generate.needs",
            )
            out.append((inject, (*loc, "id_prefix")))
        return out

    # --- expectations ---

    def bind_expectations(
        self, injects: list[Inject], breakdowns: list[Breakdown]
    ) -> tuple[list[Inject], list[Breakdown]]:
        """Attach each entry's ``expect`` to it, checking ids, references and scope."""
        needs = [
            NeedOutcome(
                need_id=i.payload.need_id,
                node_id=i.payload.node_id,
                region=self.region(i.payload.node_id),
                priority=i.payload.priority,
                commodity=i.payload.commodity,
                requested_kg=to_kg(i.payload.quantity, i.payload.unit),
                raised_at=i.at,
                deadline=i.payload.deadline,
            )
            for i in injects
            if isinstance(i.payload, NeedRaised)
        ]
        need_ids = {n.need_id for n in needs}
        regions = {n.region for n in self.network.nodes if n.region}
        seen: dict[str, Loc] = {}
        bound: dict[int, tuple[Expectation, ...]] = {}
        subjects = {i.index: i.subject for i in injects if i.index >= 0}
        subjects |= {b.index: b.asset_id for b in breakdowns}
        for i, entry in enumerate(self.spec.timeline):
            if not entry.expect:
                continue
            at = self.spec.start + timedelta(hours=entry.at_h)
            out = []
            for k, spec in enumerate(entry.expect):
                loc: Loc = ("timeline", i, "expect", k)
                self.unique(seen, (*loc, "id"), spec.id)
                sel = spec.needs
                for name, values, kind, ids in (
                    ("need_ids", sel.need_ids, "need", need_ids),
                    ("node_ids", sel.node_ids, "node", self.network.node_ids),
                    ("region", sel.region, "region", regions),
                ):
                    for j, value in enumerate(values or []):
                        self.known((*loc, "needs", name, j), value, kind, ids)
                if not any(sel.matches(n, at) for n in needs):
                    self.fail(
                        (*loc, "needs"),
                        f"no need of this scenario matches ({sel.describe()}): nothing to check",
                    )
                out.append(Expectation(spec=spec, at=at, inject=subjects.get(i)))
            bound[i] = tuple(out)
        return (
            [_with_expect(x, bound.get(x.index, ())) for x in injects],
            [_with_expect(b, bound.get(b.index, ())) for b in breakdowns],
        )

    def region(self, node_id: str) -> str:
        try:
            return self.network.node(node_id).region
        except KeyError:
            return ""


_Entry = TypeVar("_Entry", Inject, Breakdown)


def _with_expect(entry: _Entry, expect: tuple[Expectation, ...]) -> _Entry:
    if not expect or entry.index < 0:
        return entry
    return dataclasses.replace(entry, expect=expect)
