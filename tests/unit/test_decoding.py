"""Unit tests of the one decoder for request bodies and manifests (minik8s.api.decoding)."""

from __future__ import annotations

import json
import time

import pytest

from minik8s.api import decoding
from minik8s.api.decoding import MAX_DEPTH, DecodedTooLargeError, DecodeError, decode_json, decode_yaml, loads_finite


def alias_bomb(depth: int = 8) -> str:
    """The issue's YAML: each level lists the previous one nine times (9**depth leaves, ~400 bytes)."""
    lines = ["x0: &a0 [1,1,1,1,1,1,1,1,1]"]
    lines += [f"x{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once() -> None:
    """The first alias is refused, with its line, before anything is expanded."""
    start = time.monotonic()
    with pytest.raises(DecodeError, match=r"aliases are not allowed \(found \*a0\)") as caught:
        decode_yaml(alias_bomb())
    assert caught.value.line == 2
    assert time.monotonic() - start < 1.0
    with pytest.raises(DecodeError, match="aliases"):
        decode_yaml("base: &b {a: 1}\nother:\n  <<: *b\n")  # merge keys need aliases too


@pytest.mark.parametrize(("text", "key", "line"), [
    ('{"a": 1,\n "b": {"c": 1,\n  "c": 2}}', "c", 3),
    ('{"kind": "Pod", "kind": "Pod"}', "kind", 1),
])
def test_json_duplicate_keys_are_refused_with_their_line(text: str, key: str, line: int) -> None:
    with pytest.raises(DecodeError, match=f'duplicate field "{key}"') as caught:
        decode_json(text)
    assert caught.value.line == line


@pytest.mark.parametrize(("text", "line"), [
    ("a: 1\nb: 2\na: 3\n", 3),
    ("spec:\n  containers:\n  - name: c\n    image: x\n    image: y\n", 5),
    ("a: 1\n'a': 2\n", 2),  # quoting does not make another key
])
def test_yaml_duplicate_keys_are_refused_with_their_line(text: str, line: int) -> None:
    with pytest.raises(DecodeError, match="duplicate key") as caught:
        decode_yaml(text)
    assert caught.value.line == line


def test_yaml_merge_keys_may_be_overridden() -> None:
    assert decode_yaml("<<: {a: 1, b: 1}\na: 2\n") == {"a": 2, "b": 1}


@pytest.mark.parametrize("text", ['{"extra": NaN}', '{"a": [Infinity]}', '{"a": -Infinity}', '{"a": 1e400}',
                                  '{"a": -1E+999}'])
def test_json_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(DecodeError, match="non-finite number"):
        decode_json(text)


@pytest.mark.parametrize("text", ["extra: .nan\n", "a: [.inf]\n", "a: -.Inf\n", "a: 1.0e+400\n"])
def test_yaml_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(DecodeError, match="non-finite number") as caught:
        decode_yaml(text)
    assert caught.value.line == 1


def test_non_finite_words_inside_strings_are_text() -> None:
    assert decode_json('{"a": "NaN", "b": "Infinity"}') == {"a": "NaN", "b": "Infinity"}
    assert decode_yaml("a: '.nan'\n") == {"a": ".nan"}


@pytest.mark.parametrize(("decode", "text", "where"), [
    (decode_json, '{"metadata": {"name": "a\\ud800"}}', "metadata.name"),
    (decode_json, '{"metadata": {"labels": {"k": "\\udfff"}}}', "metadata.labels.k"),
    (decode_json, '{"items": [1, "\\ud800"]}', r"items\[1\]"),
    (decode_yaml, 'metadata:\n  name: "\\ud800"\n', "metadata.name"),
])
def test_lone_surrogates_are_refused_naming_the_field(decode, text: str, where: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError, match=f"invalid Unicode in {where}: lone surrogate"):
        decode(text)


def test_surrogate_pairs_are_text() -> None:
    assert decode_json('["\\ud83d\\ude00"]') == ["\U0001F600"]


@pytest.mark.parametrize(("decode", "text"), [
    (decode_json, "[" * 100_000 + "]" * 100_000),
    (decode_json, '{"a":' * 5_000 + "1" + "}" * 5_000),
    (decode_json, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
    (decode_yaml, "[" * 100_000 + "]" * 100_000),
    (decode_yaml, "- " * (MAX_DEPTH + 1) + "x\n"),
    (decode_yaml, "".join(f"{'  ' * i}a:\n" for i in range(MAX_DEPTH + 1)) + "  " * (MAX_DEPTH + 1) + "b: 1\n"),
])
def test_deep_nesting_is_a_decode_error_not_a_recursion_error(decode, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError, match=f"nested deeper than {MAX_DEPTH} levels"):
        decode(text)


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert decode_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert decode_yaml("- " * MAX_DEPTH + "x\n") is not None


def test_decoded_size_is_limited_in_compact_json_bytes() -> None:
    """`-` alone is null in YAML: 2 raw bytes become 5 JSON bytes, so the raw limit is not enough."""
    text = "-\n" * 1000  # 2000 bytes
    assert decode_yaml(text, limit=5001) == [None] * 1000  # [null,null,...]: 5001 bytes
    with pytest.raises(DecodedTooLargeError):
        decode_yaml(text, limit=5000)
    with pytest.raises(DecodedTooLargeError):
        decode_json(json.dumps({"a": "x" * 1000}), limit=500)
    body = {"a": ["é" * 10, 1.5, True, None, {"b": 12345}]}
    exact = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    assert decode_json(json.dumps(body), limit=exact) == body  # strings, floats and containers count exactly


def test_yaml_gives_json_types_only() -> None:
    """Timestamps stay strings, scalar keys become strings, binary/set/omap are refused."""
    assert decode_yaml("t: 2024-01-01T00:00:00Z\n1: a\ntrue: b\n~: c\n") == {
        "t": "2024-01-01T00:00:00Z", "1": "a", "true": "b", "null": "c"}
    for text in ("a: !!binary aGk=\n", "a: !!set {x}\n", "a: !!omap [{x: 1}]\n", "a: !!timestamp 2024-01-01\n"):
        with pytest.raises(DecodeError, match="could not determine a constructor"):
            decode_yaml(text)
    with pytest.raises(DecodeError, match="mapping keys must be scalars"):
        decode_yaml("? [a]\n: 1\n")


def test_yaml_documents_and_single_document() -> None:
    assert decoding.decode_yaml_documents("a: 1\n---\n---\nb: 2\n") == [{"a": 1}, None, {"b": 2}]
    assert decode_yaml("# only a comment\n") is None
    with pytest.raises(DecodeError, match="single YAML document") as caught:
        decode_yaml("a: 1\n---\nb: 2\n")
    assert caught.value.line == 2


@pytest.mark.parametrize(("text", "message"), [
    ("1" * 5000, "digits"),
    (b"\xff\xfe", "not valid UTF-8"),
    ('{"a": 1,}', "Expecting property name"),
])
def test_other_bad_json_is_a_decode_error(text: str | bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_json(text)


def test_check_value_refuses_what_json_cannot_carry() -> None:
    for value in (float("nan"), {1: "a"}, {"a": {1, 2}}, [b"x"]):
        with pytest.raises(DecodeError):
            decoding.check_value(value)
    decoding.check_value({"a": [1, 2.5, "x", None, True]})


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e999", "[-1e400]"])
def test_loads_finite_refuses_what_json_is_not(text: str) -> None:
    with pytest.raises(ValueError, match="is not valid JSON"):
        loads_finite(text)


def test_loads_finite_reads_plain_json_from_text_or_bytes() -> None:
    assert loads_finite('{"a": [1, 2.5, "x", null]}') == {"a": [1, 2.5, "x", None]}
    assert loads_finite(b"1e308") == 1e308
