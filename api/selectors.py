"""Label and field selectors: parse their query-string forms and match objects against them.

The API server filters lists and watches with them (`?labelSelector=`, `?fieldSelector=`),
controllers turn a workload's `spec.selector` object into a `LabelSelector` to find their pods,
and the CLI passes `-l` / `--field-selector` through unchanged. The grammar and the matching
rules follow Kubernetes (`apimachinery/pkg/labels` and `pkg/fields`) so kubectl's selectors
work as they do against a real cluster. The syntax of label keys and values is in
`minik8s.api.names`. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api.errors import BadRequestError
from minik8s.api.names import LABEL_VALUE, label_key_problems

# Label-selector operators, in their query-string spelling.
EQUALS, NOT_EQUALS, IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "=", "!=", "in", "notin", "exists", "!"

# The `matchExpressions` operators of the object form, and the operator each one means.
EXPRESSION_OPERATORS: dict[str, str] = {
    "In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
}

_TOKEN = re.compile(r"==|!=|[=!(),]|[^\s=!(),]+")


# --- label selectors -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: a key, an operator and the set of values it compares with."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(sorted(set(self.values))))  # a set: equal whatever the order

    def matches(self, labels: Mapping[str, Any]) -> bool:
        """Whether `labels` satisfy this term (`!=` and `notin` also match when the key is absent)."""
        present = self.key in labels
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        found = present and labels[self.key] in self.values
        return found if self.operator in (EQUALS, IN) else not found

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """All of its requirements must hold; no requirement at all selects everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, Any] | None) -> bool:
        """Whether an object with these labels is selected (None counts as no labels)."""
        present = labels if isinstance(labels, Mapping) else {}
        return all(requirement.matches(present) for requirement in self.requirements)

    def __str__(self) -> str:
        """The query-string form (requirements sorted by key, like Kubernetes prints them)."""
        return ",".join(str(r) for r in sorted(self.requirements, key=lambda r: r.key))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h`; an empty string selects everything."""
    return LabelSelector(tuple(_LabelParser(text).parse()))


def label_selector_from_dict(selector: Mapping[str, Any]) -> LabelSelector:
    """Build a selector from the object form used by `spec.selector` (`matchLabels`, `matchExpressions`).

    `{}` selects everything, as in Kubernetes. Raises BadRequestError when the object is malformed.
    """
    if not isinstance(selector, Mapping):
        raise BadRequestError("a label selector must be an object")
    match_labels = _or_empty(selector.get("matchLabels"), {})
    expressions = _or_empty(selector.get("matchExpressions"), [])
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise BadRequestError("matchLabels must be an object and matchExpressions a list")
    requirements = [
        Requirement(_checked_key(key), EQUALS, (_checked_value(value),)) for key, value in match_labels.items()
    ]
    requirements += [_expression(expression) for expression in expressions]
    return LabelSelector(tuple(requirements))


def _expression(expression: Any) -> Requirement:
    """One `matchExpressions` entry as a requirement."""
    if not isinstance(expression, Mapping):
        raise BadRequestError(f"a matchExpressions entry must be an object, not {expression!r}")
    operator, values = expression.get("operator"), _or_empty(expression.get("values"), [])
    if not isinstance(operator, str) or operator not in EXPRESSION_OPERATORS:
        raise BadRequestError(f"{operator!r} is not a valid label selector operator")
    if not isinstance(values, list):
        raise BadRequestError("matchExpressions values must be a list")
    op = EXPRESSION_OPERATORS[operator]
    if (op in (IN, NOT_IN)) != bool(values):
        raise BadRequestError(f"values must be given for In and NotIn, and only for them (operator {operator})")
    return Requirement(_checked_key(expression.get("key")), op, tuple(_checked_value(v) for v in values))


def _or_empty(value: Any, empty: Any) -> Any:
    """`value`, or `empty` when it is missing (null)."""
    return empty if value is None else value


def _checked_key(key: Any) -> str:
    """`key` when it is a valid label key, else BadRequestError."""
    problems = label_key_problems(key) if isinstance(key, str) else ["must be a string"]
    if problems:
        raise BadRequestError(f"invalid label key {key!r}: {'; '.join(problems)}")
    return key


def _checked_value(value: Any) -> str:
    """`value` when it is a valid label value, else BadRequestError."""
    problems = LABEL_VALUE.problems(value) if isinstance(value, str) else ["must be a string"]
    if problems:
        raise BadRequestError(f"invalid label value {value!r}: {'; '.join(problems)}")
    return value


class _LabelParser:
    """Recursive descent over the tokens of a label selector."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = _TOKEN.findall(text)
        self.pos = 0

    def parse(self) -> list[Requirement]:
        """requirement (',' requirement)*, or nothing at all."""
        if not self.tokens:
            return []
        requirements = [self._requirement()]
        while self._peek() is not None:
            self._expect(",")
            requirements.append(self._requirement())
        return requirements

    def _requirement(self) -> Requirement:
        if self._peek() == "!":
            self._next()
            return Requirement(self._key(), DOES_NOT_EXIST)
        key = self._key()
        op = self._peek()
        if op is None or op == ",":
            return Requirement(key, EXISTS)
        self._next()
        if op in ("=", "==", "!="):
            return Requirement(key, NOT_EQUALS if op == "!=" else EQUALS, (self._value(),))
        if op in (IN, NOT_IN):
            return Requirement(key, op, self._value_set())
        raise self._error(f"found '{op}', expected one of: in, notin, =, ==, !=, ',' or end of string")

    def _key(self) -> str:
        token = self._next()
        if token is None:
            raise self._error("expected a label key, found end of string")
        try:
            return _checked_key(token)
        except BadRequestError as err:
            raise self._error(err.message) from None

    def _value(self) -> str:
        """A value, empty when the next token ends it (`a=`, `a in (x,)`)."""
        if self._peek() in (None, ",", ")"):
            return ""
        try:
            return _checked_value(self._next())
        except BadRequestError as err:
            raise self._error(err.message) from None

    def _value_set(self) -> tuple[str, ...]:
        self._expect("(")
        if self._peek() == ")":
            raise self._error("the values of 'in' and 'notin' can't be empty")
        values = [self._value()]
        while self._peek() == ",":
            self._next()
            values.append(self._value())
        self._expect(")")
        return tuple(values)

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> str | None:
        token = self._peek()
        self.pos += 1
        return token

    def _expect(self, wanted: str) -> None:
        token = self._next()
        if token != wanted:
            raise self._error(f"found '{token or ''}', expected '{wanted}'")

    def _error(self, detail: str) -> BadRequestError:
        return BadRequestError(f'unable to parse label selector "{self.text}": {detail}')


# --- field selectors -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRequirement:
    """`field=value` or `field!=value`."""

    field: str
    path: tuple[str, ...]  # where the field is in the object
    operator: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Compare the object's field, read as a string ("" when missing), with the value."""
        equal = _field_value(obj, self.path) == self.value
        return equal if self.operator == EQUALS else not equal


@dataclass(frozen=True)
class FieldSelector:
    """All of its requirements must hold; no requirement at all selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object is selected."""
        return all(requirement.matches(obj) for requirement in self.requirements)

    def exact_name(self) -> str | None:
        """The name when the selector is exactly `metadata.name=X` (a single-object fast path)."""
        if len(self.requirements) != 1:
            return None
        only = self.requirements[0]
        return only.value if only.field == "metadata.name" and only.operator == EQUALS else None


def parse_field_selector(text: str, fields: Mapping[str, tuple[str, ...]]) -> FieldSelector:
    """Parse `f=v,g!=w` (also `f==v`) over `fields` (the kind's selectable fields and where each is in
    the object: `Strategy.field_paths()`); an empty string selects everything."""
    terms = (term for term in text.split(",") if term.strip())
    return FieldSelector(tuple(_field_requirement(term, fields) for term in terms))


def _field_requirement(term: str, fields: Mapping[str, tuple[str, ...]]) -> FieldRequirement:
    for op in ("!=", "==", "="):
        field, found, value = term.partition(op)
        if found:
            field = field.strip()
            if field not in fields:
                raise BadRequestError(f"field label not supported: {field}")
            return FieldRequirement(field, fields[field], NOT_EQUALS if op == "!=" else EQUALS, value.strip())
    raise BadRequestError(f"invalid selector: '{term}'; can't understand '{term}'")


def _field_value(obj: Any, path: tuple[str, ...]) -> str:
    """The value at `path` as a string: "" when missing, "true"/"false" for booleans."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return obj if isinstance(obj, str) else str(obj)
