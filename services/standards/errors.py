"""The one error the standards adapters raise: which element broke which rule."""

from __future__ import annotations

from typing import Literal

Problem = Literal["malformed", "invalid", "unsupported"]
"""malformed: not a well-formed, safe XML document of the expected standard (HTTP 400);
invalid: the right standard, but an element breaks one of its rules (HTTP 422);
unsupported: valid, but Hinterland cannot act on it yet (HTTP 422 or 501)."""


class StandardsError(ValueError):
    """A document Hinterland will not translate; nothing derived from it is published.

    ``element`` is a path such as ``alert/info[1]/area[1]/polygon[1]`` (1-based, like XPath),
    ``rule`` says what was expected, in words a partner's integrator can act on.
    """

    def __init__(
        self, element: str, rule: str, *, problem: Problem = "invalid", line: int | None = None
    ) -> None:
        self.element = element
        self.rule = rule
        self.problem: Problem = problem
        self.line = line
        where = f"{element} (line {line})" if line else element
        super().__init__(f"{where}: {rule}")

    def as_dict(self) -> dict[str, str | int | None]:
        """The error as the HTTP API and the dead-letter stream report it."""
        return {
            "detail": str(self),
            "element": self.element,
            "rule": self.rule,
            "problem": self.problem,
            "line": self.line,
        }
