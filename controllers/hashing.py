"""The `pod-template-hash` of a Deployment's pod template (pure).

Kubernetes' `controller.ComputeHash`: FNV-32a over the template, then, when the Deployment has
a `collisionCount`, over that number's 4 little-endian bytes; the 32-bit sum printed in decimal
and encoded with `rand.SafeEncodeString` (each character of the decimal string mapped onto 27
consonants and digits, so no word can form). Kubernetes feeds the hash a Go dump of its structs;
minik8s feeds it the template as canonical JSON (semantic form, sorted keys), so the same
template always gets the same label here, and a different template a different one (bar the
collisions `collisionCount` exists for), though not the very value a Kubernetes cluster prints.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from minik8s.api.workloads import semantic

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels


def fnv32a(data: bytes, start: int = _FNV32_OFFSET) -> int:
    """The FNV-1a 32-bit hash of `data` (continuing from `start`)."""
    h = start
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(text: str) -> str:
    """Kubernetes' `rand.SafeEncodeString`: every character replaced by one of 27 safe ones."""
    return "".join(_SAFE_ALPHANUMS[ord(ch) % len(_SAFE_ALPHANUMS)] for ch in text)


def compute_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """The `pod-template-hash` label value for `template` and the Deployment's `collisionCount`."""
    canonical = json.dumps(semantic(template), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    h = fnv32a(canonical.encode())
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF), h)
    return safe_encode_string(str(h))
