"""Label and field selectors, parsed and matched the way the Kubernetes API server does.

Pure functions of strings and dicts. Label selectors support equality (``a=b``, ``a==b``,
``a!=b``), sets (``a in (x,y)``, ``a notin (x)``), existence (``a``, ``!a``) and the numeric
``a>1`` / ``a<1``, comma-joined. Field selectors support ``=``, ``==`` and ``!=`` on the
fields each resource allows; ``\\,``, ``\\=`` and ``\\\\`` escape inside values.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SET_OP = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_COMPARE = re.compile(r"^(\S+?)\s*(==|!=|=|>|<)\s*(\S*)$")


class SelectorError(ValueError):
    """A selector the API server would answer with 400 BadRequest."""


class Operator(enum.Enum):
    """How a label requirement compares."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER = ">"
    LESS = "<"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One comma-separated term of a label selector."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this term (``!=`` and ``notin`` accept a missing key)."""
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
            case Operator.GREATER | Operator.LESS:
                if not present or not _is_int(value):
                    return False
                limit = int(next(iter(self.values)))
                if self.operator is Operator.GREATER:
                    return int(value) > limit
                return int(value) < limit


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector; the empty one matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        found = labels or {}
        return all(r.matches(found) for r in self.requirements)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term of a field selector."""

    field: str
    value: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector; the empty one matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` (an API object as JSON) is selected."""
        for req in self.requirements:
            found = field_value(obj, req.field)
            if (found == req.value) == req.negated:
                return False
        return True


def _is_int(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unable to parse requirement: unbalanced ')' in {text!r}")
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth:
        raise SelectorError(f"unable to parse requirement: unbalanced '(' in {text!r}")
    terms.append("".join(current).strip())
    return terms


def _checked_key(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if not _KEY.fullmatch(key) or len(name) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _checked_value(value: str) -> str:
    if not _VALUE.fullmatch(value) or len(value) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label value {value!r}")
    return value


def _parse_requirement(term: str) -> Requirement:
    if not term:
        raise SelectorError("unable to parse requirement: found '', expected: identifier")
    if term.startswith("!"):
        return Requirement(_checked_key(term[1:].strip()), Operator.DOES_NOT_EXIST)
    if match := _SET_OP.match(term):
        key, op, inner = match[1], match[2], match[3]
        values = frozenset(_checked_value(v.strip()) for v in inner.split(","))
        operator = Operator.IN if op == "in" else Operator.NOT_IN
        return Requirement(_checked_key(key), operator, values)
    if match := _COMPARE.match(term):
        key, op, value = match[1], match[2], match[3]
        if op in {">", "<"}:
            if not _is_int(value):
                raise SelectorError(f"unable to parse requirement: {value!r} is not an integer")
            operator = Operator.GREATER if op == ">" else Operator.LESS
            return Requirement(_checked_key(key), operator, frozenset({value}))
        operator = Operator.NOT_EQUALS if op == "!=" else Operator.EQUALS
        return Requirement(_checked_key(key), operator, frozenset({_checked_value(value)}))
    return Requirement(_checked_key(term), Operator.EXISTS)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query value.

    Raises:
        SelectorError: the text is not a valid selector.
    """
    if text is None or not text.strip():
        return LabelSelector()
    return LabelSelector(tuple(_parse_requirement(t) for t in _split_terms(text)))


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise SelectorError(f"invalid field selector: trailing backslash in {text!r}")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None, allowed: frozenset[str]) -> FieldSelector:
    """Parse a ``fieldSelector`` query value against the fields a resource supports.

    Raises:
        SelectorError: bad syntax, or a field the resource does not support.
    """
    if text is None or not text.strip():
        return FieldSelector()
    requirements = []
    for term in _split_unescaped(text, ","):
        match = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)(.*)", term.strip())
        if match is None:
            raise SelectorError(f"invalid selector: {text!r}; can't understand {term!r}")
        field, op, value = match[1].strip(), match[2], _unescape(match[3])
        if field not in allowed:
            raise SelectorError(f'field label not supported: {field}')
        requirements.append(FieldRequirement(field, value, negated=op == "!="))
    return FieldSelector(tuple(requirements))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string value at dotted ``path`` in ``obj``; ``""`` when absent (as the API does)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)
