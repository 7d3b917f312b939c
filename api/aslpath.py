"""The JSONPath subset of the Amazon States Language: Paths, reference paths and intrinsic calls.

ASL names data with JSONPath (`InputPath`, `OutputPath`, `ItemsPath`, `Variable`, the values of
`.$` keys) and with *reference paths*, the single-node subset (`ResultPath`, `SecondsPath`, ...).
We parse our own subset instead of depending on a JSONPath library: `$` (or `$$`, the context
object) followed by `.name`, `['name']`, `[n]` (negative counts from the end), `[*]`/`.*`,
`[a:b]` slices and `..` (recursive descent). Filters, unions and scripts are refused with a message
naming what is not supported. A path with a wildcard, a slice or `..` is *indefinite* and selects a
list of every match (Jayway's rule, which AWS follows); any other path selects one value.

Intrinsic functions (`States.Format('{}', $.x)`) are parsed here too, so the static validator
(`minik8s.api.asl`) and the interpreter (`minik8s.serverless.asl`) share one grammar; this module
only parses them, the interpreter evaluates them. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

__all__ = [
    "Intrinsic", "JsonPath", "Literal", "PathMissingError", "PathSyntaxError", "parse_intrinsic",
    "parse_path", "parse_reference_path", "put", "select",
]

MAX_PATH_LENGTH = 1024
MAX_INTRINSIC_DEPTH = 10  # AWS's own limit on nested intrinsic calls
_NAME = re.compile(r"[^.\[\]()'\",\s$]+")
_INDEX = re.compile(r"-?\d+")
_SLICE = re.compile(r"(-?\d+)?:(-?\d+)?")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_FUNCTION = re.compile(r"States\.[A-Za-z][A-Za-z0-9]*")

# One step of a path: ("name", key) | ("index", n) | ("wild",) | ("slice", start, end) | ("descend", step)
PathStep = tuple[Any, ...]


class PathSyntaxError(ValueError):
    """A path or intrinsic call that does not parse; the message says where and why."""


class PathMissingError(LookupError):
    """A definite path that names nothing in the data (or cannot be written into it)."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed Path: its text, whether it starts at the context object (`$$`), and its steps."""

    text: str
    context: bool
    steps: tuple[PathStep, ...]

    @property
    def definite(self) -> bool:
        """True when the path names at most one value (only names and indexes)."""
        return all(step[0] in ("name", "index") for step in self.steps)

    @property
    def reference(self) -> bool:
        """True for a reference path: `$` and names and non-negative indexes only."""
        return not self.context and all(
            step[0] == "name" or (step[0] == "index" and step[1] >= 0) for step in self.steps)


@dataclass(frozen=True)
class Literal:
    """A constant argument of an intrinsic call; `raw` keeps a string's escapes (for States.Format)."""

    value: Any
    raw: str | None = None


@dataclass(frozen=True)
class Intrinsic:
    """A parsed intrinsic call `States.<Name>(args...)`."""

    name: str
    args: tuple[Union[Literal, JsonPath, "Intrinsic"], ...]


def parse_path(text: str) -> JsonPath:
    """Parse a Path (`$...` or `$$...`); raises PathSyntaxError saying what is wrong."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError("must be a path starting with \"$\"")
    if len(text) > MAX_PATH_LENGTH:
        raise PathSyntaxError(f"must be at most {MAX_PATH_LENGTH} characters")
    context = text.startswith("$$")
    steps: list[PathStep] = []
    pos = 2 if context else 1
    while pos < len(text):
        step, pos = _step(text, pos)
        steps.append(step)
    return JsonPath(text, context, tuple(steps))


def parse_reference_path(text: str) -> JsonPath:
    """Parse a reference path: `$` then only `.name`, `['name']` and `[n]`."""
    path = parse_path(text)
    if not path.reference:
        raise PathSyntaxError("must be a reference path: \"$\" followed only by .name, ['name'] or [n]")
    return path


def _step(text: str, pos: int) -> tuple[PathStep, int]:
    """The step that starts at `pos` and the position after it."""
    if text.startswith("..", pos):
        if text.startswith("[", pos + 2):
            inner, end = _bracket(text, pos + 2)
        else:
            inner, end = _dotted(text, pos + 2)
        return ("descend", inner), end
    if text[pos] == ".":
        return _dotted(text, pos + 1)
    if text[pos] == "[":
        return _bracket(text, pos)
    raise PathSyntaxError(f"unexpected {text[pos]!r} at position {pos}")


def _dotted(text: str, pos: int) -> tuple[PathStep, int]:
    """`name` or `*` after a dot."""
    if text.startswith("*", pos):
        return ("wild",), pos + 1
    match = _NAME.match(text, pos)
    if not match:
        raise PathSyntaxError(f"expected a field name at position {pos}")
    return ("name", match.group()), match.end()


def _bracket(text: str, pos: int) -> tuple[PathStep, int]:
    """`[n]`, `[*]`, `['name']`, `["name"]` or `[a:b]` starting at the `[`."""
    pos += 1
    if text.startswith("*]", pos):
        return ("wild",), pos + 2
    if pos < len(text) and text[pos] in "'\"":
        name, end = _quoted(text, pos)
        return ("name", name), _close(text, end)
    for pattern, kind in ((_SLICE, "slice"), (_INDEX, "index")):
        match = pattern.match(text, pos)
        if match and text.startswith("]", match.end()):
            if kind == "index":
                return ("index", int(match.group())), match.end() + 1
            start, end = match.groups()
            return ("slice", _int_or_none(start), _int_or_none(end)), match.end() + 1
    if text.startswith("?", pos) or text.startswith("(", pos):
        raise PathSyntaxError("filter and script expressions are not supported")
    raise PathSyntaxError(f"unsupported bracket expression at position {pos - 1} (unions are not supported)")


def _int_or_none(text: str | None) -> int | None:
    """A slice bound."""
    return None if text is None else int(text)


def _close(text: str, pos: int) -> int:
    """The position after the `]` expected at `pos`."""
    if not text.startswith("]", pos):
        raise PathSyntaxError(f"expected \"]\" at position {pos}")
    return pos + 1


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """A quoted string starting at `pos` (backslash escapes the next character) and the position after it."""
    quote, out, pos = text[pos], [], pos + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == quote:
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    raise PathSyntaxError("unterminated quoted string")


# -- evaluation ------------------------------------------------------------------------------------

def select(path: JsonPath, data: Any, context: Any = None) -> Any:
    """The value `path` names in `data` (in `context` for `$$`); a list of matches if indefinite.

    Raises PathMissingError when a definite path names nothing.
    """
    root = context if path.context else data
    if path.definite:
        node = root
        for step in path.steps:
            node = _child(node, step)
        return node
    return list(_matches(root, path.steps))


def _child(node: Any, step: PathStep) -> Any:
    """The one child a name or index step names; PathMissingError when absent."""
    kind, key = step
    if kind == "name" and isinstance(node, dict) and key in node:
        return node[key]
    if kind == "index" and isinstance(node, list) and -len(node) <= key < len(node):
        return node[key]
    raise PathMissingError(f"no {key!r} here" if kind == "name" else f"no index {key} here")


def _matches(node: Any, steps: tuple[PathStep, ...]) -> Iterator[Any]:
    """Every value the (indefinite) steps reach from `node`, in document order."""
    if not steps:
        yield node
        return
    step, rest = steps[0], steps[1:]
    for child in _children(node, step):
        yield from _matches(child, rest)


def _children(node: Any, step: PathStep) -> list[Any]:
    """The values one step reaches from `node` (none when it does not apply)."""
    kind = step[0]
    if kind in ("name", "index"):
        try:
            return [_child(node, step)]
        except PathMissingError:
            return []
    if kind == "wild":
        return list(node.values()) if isinstance(node, dict) else list(node) if isinstance(node, list) else []
    if kind == "slice":
        return node[step[1]:step[2]] if isinstance(node, list) else []
    found: list[Any] = []
    for each in _descendants(node):  # "descend"
        found.extend(_children(each, step[1]))
    return found


def _descendants(node: Any) -> Iterator[Any]:
    """`node` and everything inside it, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, dict):
            stack.extend(reversed(list(current.values())))
        elif isinstance(current, list):
            stack.extend(reversed(current))


def put(path: JsonPath, data: Any, value: Any) -> Any:
    """`data` with `value` written where the reference `path` points (copy on write).

    Missing objects on the way are created; raises PathMissingError when the path runs through a
    value that is not an object (or an index outside an array).
    """
    return _put(data, path.steps, value)


def _put(node: Any, steps: tuple[PathStep, ...], value: Any) -> Any:
    """One level of `put`."""
    if not steps:
        return value
    (kind, key), rest = steps[0], steps[1:]
    if kind == "name" and isinstance(node, dict):
        copy = dict(node)
        copy[key] = _put(node.get(key, {}), rest, value)
        return copy
    if kind == "index" and isinstance(node, list) and 0 <= key < len(node):
        items = list(node)
        items[key] = _put(node[key], rest, value)
        return items
    raise PathMissingError(f"cannot write {key!r} into a {_type_name(node)}")


def _type_name(value: Any) -> str:
    """JSON's name for the type of `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "number")


# -- intrinsic functions ---------------------------------------------------------------------------

def parse_intrinsic(text: str) -> Intrinsic:
    """Parse `States.Name(arg, ...)`: args are 'strings', numbers, true/false/null, paths or calls."""
    if not isinstance(text, str):
        raise PathSyntaxError("must be a string")
    if len(text) > MAX_PATH_LENGTH * 4:
        raise PathSyntaxError(f"must be at most {MAX_PATH_LENGTH * 4} characters")
    call, pos = _call(text, 0, 0)
    if text[pos:].strip():
        raise PathSyntaxError(f"unexpected text after the call at position {pos}")
    return call


def _call(text: str, pos: int, depth: int) -> tuple[Intrinsic, int]:
    """A call starting at `pos`."""
    if depth >= MAX_INTRINSIC_DEPTH:
        raise PathSyntaxError(f"intrinsic calls nest deeper than {MAX_INTRINSIC_DEPTH}")
    match = _FUNCTION.match(text, pos)
    if not match or not text.startswith("(", match.end()):
        raise PathSyntaxError(f"expected an intrinsic function call like States.Format(...) at position {pos}")
    args: list[Literal | JsonPath | Intrinsic] = []
    pos = _skip_space(text, match.end() + 1)
    if text.startswith(")", pos):
        return Intrinsic(match.group(), ()), pos + 1
    while True:
        arg, pos = _argument(text, _skip_space(text, pos), depth)
        args.append(arg)
        pos = _skip_space(text, pos)
        if text.startswith(")", pos):
            return Intrinsic(match.group(), tuple(args)), pos + 1
        if not text.startswith(",", pos):
            raise PathSyntaxError(f"expected \",\" or \")\" at position {pos}")
        pos += 1


def _skip_space(text: str, pos: int) -> int:
    """The first position at or after `pos` that is not white space."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _argument(text: str, pos: int, depth: int) -> tuple[Literal | JsonPath | Intrinsic, int]:
    """One argument starting at `pos`."""
    if text.startswith("'", pos):
        end = pos + 1
        while end < len(text) and text[end] != "'":
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise PathSyntaxError("unterminated string literal")
        raw = text[pos + 1:end]
        return Literal(re.sub(r"\\(.)", r"\1", raw), raw), end + 1
    if text.startswith("$", pos):
        end = _path_end(text, pos)
        return parse_path(text[pos:end].rstrip()), end
    if text.startswith("States.", pos):
        return _call(text, pos, depth + 1)
    for word, value in (("true", True), ("false", False), ("null", None)):
        if re.match(rf"{word}\b", text[pos:]):
            return Literal(value), pos + len(word)
    match = _NUMBER.match(text, pos)
    if match:
        number = match.group()
        return Literal(float(number) if match.group(1) or match.group(2) else int(number)), match.end()
    raise PathSyntaxError(f"unexpected argument at position {pos}")


def _path_end(text: str, pos: int) -> int:
    """Where a path argument ends: the first `,` or `)` outside brackets and quotes."""
    depth, quote = 0, ""
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == "\\":
                pos += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and char in ",)":
            return pos
        pos += 1
    return pos
