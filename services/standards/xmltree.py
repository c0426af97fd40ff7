"""Safe XML reading for partner documents: stdlib expat, no DTDs, no entities, bounded size.

We build our own small tree straight from expat instead of ``xml.etree``: the C-accelerated
``ElementTree.XMLParser`` does not let us hook the DOCTYPE handler, and refusing the DOCTYPE
outright is what makes entity expansion (billion laughs, external entities) impossible,
since entities can only be declared in a DTD. It also lets every element keep its line number,
so errors can point at the line a partner has to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from services.standards.errors import Problem, StandardsError

MAX_DOCUMENT_BYTES = 1_048_576
"""Larger documents are refused before parsing (a CAP alert or RM message is a few KiB)."""


@dataclass(slots=True)
class XmlNode:
    """One element: namespace, local name, text, children, and where it was in the source."""

    ns: str
    name: str
    line: int
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[XmlNode] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Character data directly inside the element, stripped."""
        return "".join(self.parts).strip()

    def elements(self, name: str, namespaces: frozenset[str]) -> Iterator[XmlNode]:
        """Children called ``name`` in one of ``namespaces``, in document order."""
        return (c for c in self.children if c.name == name and c.ns in namespaces)


class _Builder:
    def __init__(self, parser: expat.XMLParserType) -> None:
        self._parser = parser
        self._stack: list[XmlNode] = []
        self.root: XmlNode | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        ns, _, name = tag.rpartition("\x1f")
        node = XmlNode(ns, name, self._parser.CurrentLineNumber, dict(attrs))
        if self._stack:
            self._stack[-1].children.append(node)
        else:
            self.root = node
        self._stack.append(node)

    def end(self, _tag: str) -> None:
        self._stack.pop()

    def data(self, text: str) -> None:
        if self._stack:
            self._stack[-1].parts.append(text)


def parse(document: bytes | str, *, root_label: str) -> XmlNode:
    """Parse ``document`` into an :class:`XmlNode` tree, refusing anything unsafe.

    Raises :class:`StandardsError` (problem ``malformed``) for a document that is too large,
    not well-formed, or carries a DOCTYPE (and so could declare entities).
    """
    data = document.encode() if isinstance(document, str) else document
    if len(data) > MAX_DOCUMENT_BYTES:
        raise StandardsError(
            root_label,
            f"document is {len(data)} bytes; at most {MAX_DOCUMENT_BYTES} are accepted",
            problem="malformed",
        )
    parser = expat.ParserCreate(namespace_separator="\x1f")
    builder = _Builder(parser)

    def refuse_dtd(*_args: object) -> NoReturn:
        raise StandardsError(
            root_label,
            "a DOCTYPE is not allowed: documents with a DTD (and so entity declarations) "
            "are refused",
            problem="malformed",
            line=parser.CurrentLineNumber,
        )

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.UnparsedEntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise StandardsError(
            root_label,
            f"not well-formed XML: {expat.ErrorString(exc.code)} at column {exc.offset}",
            problem="malformed",
            line=exc.lineno,
        ) from exc
    if builder.root is None:  # pragma: no cover - expat rejects an empty document itself
        raise StandardsError(root_label, "the document has no root element", problem="malformed")
    return builder.root


@dataclass(frozen=True, slots=True)
class Element:
    """An element read under a standard's namespaces, with its path for error messages.

    The cardinality helpers raise :class:`StandardsError` naming the element and the rule
    (required, at most once, not empty), so each adapter states its rules in one line each.
    """

    node: XmlNode
    path: str
    namespaces: frozenset[str]

    @property
    def text(self) -> str:
        return self.node.text

    def error(self, rule: str, *, problem: Problem = "invalid") -> StandardsError:
        return StandardsError(self.path, rule, problem=problem, line=self.node.line)

    def _child(self, node: XmlNode, path: str) -> Element:
        return Element(node, path, self.namespaces)

    def all(self, name: str, *, at_least: int = 0, why: str = "") -> list[Element]:
        """Every child called ``name`` (paths numbered from 1), requiring ``at_least`` of them."""
        found = list(self.node.elements(name, self.namespaces))
        if len(found) < at_least:
            rule = f"<{name}> is required" if at_least == 1 else f"at least {at_least} <{name}>"
            raise self.error(f"{rule}{f' ({why})' if why else ''}; none found")
        return [self._child(n, f"{self.path}/{name}[{i}]") for i, n in enumerate(found, 1)]

    def opt(self, name: str) -> Element | None:
        """The child called ``name`` if present; more than one is an error."""
        found = list(self.node.elements(name, self.namespaces))
        if len(found) > 1:
            dup = self._child(found[1], f"{self.path}/{name}[2]")
            raise dup.error(f"<{name}> may appear at most once; found {len(found)}")
        return self._child(found[0], f"{self.path}/{name}") if found else None

    def one(self, name: str, *, why: str = "") -> Element:
        """The child called ``name``: required, at most once."""
        child = self.opt(name)
        if child is None:
            raise StandardsError(
                f"{self.path}/{name}",
                f"required element is missing{f' ({why})' if why else ''}",
                line=self.node.line,
            )
        return child

    def text_of(self, name: str, *, why: str = "") -> str:
        """Text of the required child ``name``, which must not be empty."""
        child = self.one(name, why=why)
        if not child.text:
            raise child.error("must not be empty")
        return child.text

    def opt_text(self, name: str) -> str | None:
        child = self.opt(name)
        return child.text if child is not None and child.text else None
