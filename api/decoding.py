"""Decoding JSON and YAML into JSON values, with the same rules for every body and manifest.

The API server decodes request bodies here (`api/server/http.py`) and the CLI decodes manifests
here (`cli/manifests.py`), so whatever one rejects the other rejects too. What comes out is a plain
JSON value (dicts with string keys, lists, str, int, finite float, bool, None) that the store can
encode and every member can apply. Rejected, as `DecodeError` (the server answers 400):

- duplicate keys in a mapping, in JSON and in YAML (kube-apiserver's strict decoding reports
  `duplicate field`); the last value silently winning hides typos;
- YAML aliases (`*name`): expanding them turns a few hundred bytes into gigabytes (kubectl refuses
  "excessive aliasing"; we refuse every alias, anchors alone are harmless);
- non-finite numbers: JSON `NaN`, `Infinity`, `-Infinity` and overflowing literals such as `1e400`,
  YAML `.nan` and `.inf`; no JSON encoder may emit them, so nothing could read the object back;
- strings that are not Unicode text: a lone surrogate (`"\\ud800"`) cannot be encoded as UTF-8;
- characters YAML does not allow (control characters but tab and line breaks, U+FFFE, ...):
  PyYAML refuses them while building its loader, before the first parsing step;
- nesting deeper than `MAX_DEPTH` containers (never a `RecursionError`);
- YAML types JSON lacks: timestamps stay strings (as kubectl sends them), `!!binary`, `!!set`,
  `!!omap`, `!!pairs` are refused; scalar keys that are not strings become strings, as
  sigs.k8s.io/yaml makes them (`1: a` is `{"1": "a"}`).

A value whose compact JSON encoding (UTF-8, as the store writes it) is larger than `limit` bytes
raises `DecodedTooLargeError` (the server answers 413): the raw body limit alone does not bound
what a body decodes to (in YAML, `-` alone is `null`). The size is counted while walking the
value and the walk stops as soon as the limit is passed, so checking costs at most `limit` steps.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

MAX_DEPTH = 100  # containers (objects and lists) nested in one another; Kubernetes objects need < 30
DEFAULT_LIMIT = 3 * 1024 * 1024  # bytes of compact JSON; the API server passes its body limit


class DecodeError(ValueError):
    """Input that is not an acceptable JSON value; `line` (1-based) where known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return self.message


class DecodedTooLargeError(DecodeError):
    """The decoded value is larger than the limit."""


def decode_json(data: str | bytes, *, limit: int = DEFAULT_LIMIT) -> Any:
    """The JSON value of `data` (UTF-8 when bytes), checked as the module describes."""
    text = _text(data)
    try:
        value = _JSON.decode(text)
    except json.JSONDecodeError as err:
        raise DecodeError(err.msg, line=err.lineno, column=err.colno) from None
    except _DuplicateKey as err:
        position = _duplicate_position(text)
        raise DecodeError(f'duplicate field "{err.key}"', **_where(text, position)) from None
    except _NonFinite as err:
        raise DecodeError(f"non-finite number {err.token} is not allowed",
                          **_where(text, _token_position(text, err.token))) from None
    except RecursionError:
        raise DecodeError(f"the value is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:  # e.g. an integer literal with more digits than Python converts
        raise DecodeError(str(err)) from None
    check_value(value, limit=limit)
    return value


def loads_finite(text: str | bytes) -> Any:
    """Plain JSON (no size or duplicate-key checks) without what Python's json takes and JSON does not:
    NaN, Infinity and numbers too large for a float (1e999) are a ValueError naming the token."""
    try:
        return _FINITE_JSON.decode(text if isinstance(text, str) else text.decode("utf-8"))
    except _NonFinite as err:
        raise ValueError(f"{err.token} is not valid JSON (not a finite number)") from None


def decode_yaml(data: str | bytes, *, limit: int = DEFAULT_LIMIT) -> Any:
    """The value of a single-document YAML stream (None when empty), checked as the module describes."""
    loader = _load(lambda: _Loader(_text(data)))
    try:
        value = _load(loader.get_data) if _load(loader.check_data) else None
        if _load(loader.check_data):
            event = loader.peek_event()
            raise DecodeError("expected a single YAML document, but found another", line=event.start_mark.line + 1,
                              column=event.start_mark.column + 1)
    finally:
        loader.dispose()
    check_value(value, limit=limit)
    return value


def decode_yaml_documents(data: str | bytes, *, limit: int = DEFAULT_LIMIT) -> list[Any]:
    """The value of every document of a YAML stream (None for empty ones); `limit` is per document."""
    loader = _load(lambda: _Loader(_text(data)))
    documents: list[Any] = []
    try:
        while _load(loader.check_data):
            documents.append(_load(loader.get_data))
            check_value(documents[-1], limit=limit)
    finally:
        loader.dispose()
    return documents


def check_value(value: Any, *, limit: int = DEFAULT_LIMIT) -> None:
    """Raise DecodeError unless `value` is a JSON value as the module describes it, at most
    `MAX_DEPTH` containers deep and at most `limit` bytes as compact JSON (DecodedTooLargeError)."""
    try:
        _walk(value, limit)
    except _LoneSurrogate as err:
        raise DecodeError(f"invalid Unicode in {_path_of_surrogate(value)}: {err} (strings must be valid UTF-8 "
                          "text)") from None


def _walk(value: Any, limit: int) -> None:
    """Count the compact JSON bytes of `value` (strings exactly, integers by an upper bound of their
    digits), stopping as soon as `limit` is passed."""
    budget = limit
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            budget -= _string_size(item)
        elif item is None or isinstance(item, bool):
            budget -= 5 if item is False else 4
        elif isinstance(item, int):
            budget -= item.bit_length() // 3 + 1 + (item < 0)  # never fewer than its decimal digits
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise DecodeError(f"non-finite number {item!r} is not allowed")
            budget -= len(repr(item))
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise DecodeError(f"the value is nested deeper than {MAX_DEPTH} levels")
            budget -= 1 + max(len(item), 1)  # brackets and separators
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise DecodeError(f"object keys must be strings, not {type(key).__name__} ({key!r})")
                    budget -= _string_size(key) + 1
                    pending.append((child, depth + 1))
                    if budget < 0:
                        break
            else:
                pending.extend((child, depth + 1) for child in item)
        else:
            raise DecodeError(f"values of type {type(item).__name__} are not allowed")
        if budget < 0:
            raise DecodedTooLargeError(f"the decoded value is larger than the limit of {limit} bytes")


# --- strings -------------------------------------------------------------------------------------

_encode_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept (as the store writes)


def _string_size(text: str) -> int:
    """Bytes of the JSON string literal of `text`; _LoneSurrogate when it is not Unicode text."""
    try:
        return len(_encode_string(text).encode("utf-8"))
    except UnicodeEncodeError as err:
        bad = str(err.object[err.start:err.end]).encode("unicode_escape").decode()
        raise _LoneSurrogate(f"lone surrogate {bad}") from None


class _LoneSurrogate(ValueError):
    pass


_SURROGATE = re.compile("[\ud800-\udfff]")


def _path_of_surrogate(value: Any) -> str:
    """The path (`metadata.labels[key]`, `items[0]`) of the first string or key with a lone surrogate."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str) and _SURROGATE.search(item):
            return path or "<root>"
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    return f"a key of {path or '<root>'}"
                pending.append((child, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{index}]") for index, child in enumerate(item))
    return "a string"


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as err:
        raise DecodeError(f"the input is not valid UTF-8 (byte {err.start})") from None


def _where(text: str, position: int | None) -> dict[str, int]:
    """`line`/`column` keyword arguments for an index into `text` (nothing when unknown)."""
    if position is None:
        return {}
    line_start = text.rfind("\n", 0, position) + 1
    return {"line": text.count("\n", 0, position) + 1, "column": position - line_start + 1}


# --- JSON ----------------------------------------------------------------------------------------

class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
        self.position: int | None = None


class _NonFinite(ValueError):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _constant(token: str) -> Any:
    raise _NonFinite(token)


def _float(token: str) -> float:
    number = float(token)
    if not math.isfinite(number):
        raise _NonFinite(token)
    return number


_JSON = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
_PLAIN_JSON = json.JSONDecoder()
_FINITE_JSON = json.JSONDecoder(parse_constant=_constant, parse_float=_float)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _duplicate_position(text: str) -> int | None:
    """Where the first duplicate key of `text` is (slow path, only after one was found)."""

    def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        try:
            return json.decoder.JSONObject(s_and_end, *args, **kwargs)
        except _DuplicateKey as err:
            if err.position is None:
                err.position = _second_key(*s_and_end, err.key)
            raise

    decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # the Python scanner calls parse_object
    try:
        decoder.decode(text)
    except _DuplicateKey as err:
        return err.position
    except (ValueError, RecursionError, IndexError):
        return None
    return None


def _second_key(text: str, index: int, key: str) -> int | None:
    """The index of the second `key` among the keys of the object whose body starts at `index`."""
    seen = False
    while True:
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text[index] != '"':
            return None
        name, end = json.decoder.scanstring(text, index + 1)
        if name == key:
            if seen:
                return index
            seen = True
        index = _WHITESPACE.match(text, end).end() + 1  # type: ignore[union-attr]  # past ':'
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        _, index = _PLAIN_JSON.raw_decode(text, index)
        index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text[index] != ",":
            return None
        index += 1


def _token_position(text: str, token: str) -> int | None:
    """Where a bare `token` (outside string literals) first occurs in `text`."""
    masked = _STRING_LITERAL.sub(lambda m: " " * len(m.group()), text)
    found = re.search(r"(?<![\w.+-])" + re.escape(token) + r"(?![\w.])", masked)
    return found.start() if found else None


# --- YAML ----------------------------------------------------------------------------------------

_TAG = "tag:yaml.org,2002:"
_REFUSED_TAGS = {f"{_TAG}{name}" for name in ("timestamp", "binary", "set", "omap", "pairs")}


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, deep nesting, duplicate keys, non-finite floats and
    non-JSON types, and keeps timestamps as strings."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ComposerError(None, None, f"YAML aliases are not allowed (found *{event.anchor}); write the "
                                "value out", event.start_mark)
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"the document is nested deeper than {MAX_DEPTH} levels",
                                self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise ConstructorError(None, None, f"expected a mapping node, but found {node.id}", node.start_mark)
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == f"{_TAG}merge" or not isinstance(key_node, yaml.ScalarNode):
                continue  # merged keys may be overridden; other keys are reported below
            key = _key_text(self.construct_object(key_node))
            if key in seen:
                raise ConstructorError("while constructing a mapping", node.start_mark, f'duplicate key "{key}"',
                                       key_node.start_mark)
            seen.add(key)
        self.flatten_mapping(node)  # `<<` merges: merged pairs first, so the mapping's own keys win
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, type(None))):
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       "mapping keys must be scalars", key_node.start_mark)
            mapping[_key_text(key)] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_float(self, node: Any) -> float:
        number = super().construct_yaml_float(node)
        if not math.isfinite(number):
            raise ConstructorError(None, None, f"non-finite number {node.value} is not allowed", node.start_mark)
        return number

    def construct_yaml_int(self, node: Any) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError as err:
            raise ConstructorError(None, None, f"invalid integer: {err}", node.start_mark) from None


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_TAG}timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.yaml_constructors = {
    tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items() if tag not in _REFUSED_TAGS
}
_Loader.yaml_constructors[f"{_TAG}float"] = _Loader.construct_yaml_float
_Loader.yaml_constructors[f"{_TAG}int"] = _Loader.construct_yaml_int


def _key_text(key: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml writes it in JSON (`1` → "1", `true` → "true")."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return str(int(key)) if key.is_integer() and abs(key) < 1e21 else repr(key)
    raise DecodeError(f"mapping keys must be scalars, not {type(key).__name__}")


def _load(step: Any) -> Any:
    """Run one loader step, turning every YAML problem into a one-line DecodeError with its line."""
    try:
        return step()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        if mark is None:
            raise DecodeError(problem) from None
        raise DecodeError(problem, line=mark.line + 1, column=mark.column + 1) from None
    except yaml.reader.ReaderError as err:  # not a MarkedYAMLError: raised while reading, before any token
        what = f"#x{err.character:04x}" if isinstance(err.character, int) else repr(err.character)
        raise DecodeError(f"unacceptable character {what} at position {err.position}: {err.reason} (YAML allows "
                          "printable characters, tabs and line breaks only)") from None
    except yaml.YAMLError as err:  # every other PyYAML error class (emitter/serializer ones cannot occur here)
        raise DecodeError(" ".join(str(err).split())) from None
    except RecursionError:
        raise DecodeError(f"the document is nested deeper than {MAX_DEPTH} levels") from None
