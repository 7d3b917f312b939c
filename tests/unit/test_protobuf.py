"""Unit tests of decoding the Kubernetes protobuf bodies kubectl's generators send."""

from __future__ import annotations

import pytest

from minik8s.api import protobuf

# `kubectl autoscale deployment web --min=2 --max=5 --cpu-percent=50` (kubectl 1.32.4, recorded with -v=9)
AUTOSCALE = bytes.fromhex(
    "6b3873000a290a0e6175746f7363616c696e672f763112174"
    "86f72697a6f6e74616c506f644175746f7363616c657212"
    "3f0a130a0377656212001a0022002a0032003800420012220a1a0a0a4465706c6f796d656e74120377656"
    "21a07617070732f7631100218052032"
    "1a04180020001a002200")


def field(number: int, value: bytes | int) -> bytes:
    """One protobuf field: a varint for ints, length-delimited for bytes."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)
    if isinstance(value, int):
        return varint(number << 3) + varint(value % (1 << 64))
    return varint(number << 3 | 2) + varint(len(value)) + value


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return protobuf.MAGIC + field(1, field(1, api_version.encode()) + field(2, kind.encode())) + field(2, raw)


def test_protobuf_kubectl_autoscale_body() -> None:
    """The body kubectl autoscale sends decodes to the autoscaling/v1 object a JSON client would send."""
    assert protobuf.decode(AUTOSCALE) == {
        "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                 "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
        "status": {}}


def test_protobuf_metadata_maps_lists_times_and_optional_zeros() -> None:
    """Labels and annotations (map entries), finalizers, creation times; an optional field keeps its 0."""
    meta = (field(1, b"web") + field(11, field(1, b"app") + field(2, b"web")) + field(11, field(1, b"tier"))
            + field(12, field(1, b"note") + field(2, b"x")) + field(14, b"a") + field(14, b"b") + field(7, 3))
    spec = field(3, 4) + field(4, 0) + field(99, b"future field")
    status = field(2, field(1, 1_700_000_000)) + field(3, 0) + field(1, -1)
    obj = protobuf.decode(envelope("autoscaling/v1", "HorizontalPodAutoscaler",
                                   field(1, meta) + field(2, spec) + field(3, status)))
    assert obj["metadata"] == {"name": "web", "labels": {"app": "web", "tier": ""}, "annotations": {"note": "x"},
                               "finalizers": ["a", "b"], "generation": 3}
    assert obj["spec"] == {"maxReplicas": 4, "targetCPUUtilizationPercentage": 0}
    assert obj["status"] == {"lastScaleTime": "2023-11-14T22:13:20Z", "observedGeneration": -1}


@pytest.mark.parametrize("body", [
    pytest.param(b"{}", id="not-protobuf"),
    pytest.param(AUTOSCALE[:-9], id="truncated"),
    pytest.param(protobuf.MAGIC + b"\x0a\xff", id="bad-length"),
    pytest.param(protobuf.MAGIC + b"\x0b", id="wire-type-3"),
    pytest.param(envelope("autoscaling/v1", "HorizontalPodAutoscaler", field(1, 5)), id="varint-for-a-message"),
    pytest.param(envelope("autoscaling/v1", "HorizontalPodAutoscaler", field(1, field(1, b"\xff"))), id="not-utf8"),
    pytest.param(protobuf.MAGIC + b"\x08" + b"\xff" * 11, id="overlong-varint"),
])
def test_protobuf_malformed_bodies_are_errors(body: bytes) -> None:
    """Malformed input raises ProtobufError, never anything else."""
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(body)


def test_protobuf_other_kinds_are_unsupported() -> None:
    """A kind without a description is UnsupportedKindError (the API answers 415)."""
    with pytest.raises(protobuf.UnsupportedKindError, match="ConfigMap"):
        protobuf.decode(envelope("v1", "ConfigMap", field(1, field(1, b"cfg"))))
