"""The pod-template-hash: FNV-32a, Kubernetes' safe encoding, stable per template, moved by collisionCount."""

from __future__ import annotations

import pytest

from minik8s.controllers.hashing import compute_hash, fnv32a, safe_encode_string

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param(b"", 0x811C9DC5, id="empty"),
    pytest.param(b"a", 0xE40C292C, id="a"),
    pytest.param(b"foobar", 0xBF9CF968, id="foobar"),
])
def test_hashing_fnv32a_reference_vectors(data: bytes, expected: int) -> None:
    """FNV-1a 32-bit matches the reference test vectors."""
    assert fnv32a(data) == expected


def test_hashing_safe_encoding_uses_no_vowels() -> None:
    """Kubernetes' SafeEncodeString: '0'..'9' map onto fixed consonants and digits."""
    assert safe_encode_string("0123456789") == "456789bcdf"
    assert not set(compute_hash(TEMPLATE)) & set("aeiou")


def test_hashing_is_stable_and_semantic() -> None:
    """One template, one hash, whatever its key order or Go zero values; another template, another hash."""
    same = {"spec": {"containers": [{"image": "v1", "name": "c", "resources": {}}]},
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None}}
    assert compute_hash(TEMPLATE) == compute_hash(same)
    other = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "v2"}]}}
    assert compute_hash(other) != compute_hash(TEMPLATE)


def test_hashing_collision_count_changes_the_hash() -> None:
    """A collision bumps collisionCount, which gives the next ReplicaSet another name."""
    hashes = {compute_hash(TEMPLATE, None), compute_hash(TEMPLATE, 0), compute_hash(TEMPLATE, 1)}
    assert len(hashes) == 3
