"""Raft wire framing (consensus/framing.py) and one PeerConnection over a socketpair."""

from __future__ import annotations

import os
import socket
import struct
import time
import zlib

import pysyncobj.pickle as spickle
import pytest
from pysyncobj.encryptor import getEncryptor
from pysyncobj.poller import createPoller

from minik8s.consensus.framing import FrameError, FrameReader, decode_message, encode_frame, inflate
from minik8s.consensus.transport import PeerConnection, PeerLimits

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def fernet():
    return getEncryptor("unit-test-secret")


def _token(fernet, message, timestamp: int = 1000) -> bytes:
    return fernet.encrypt_at_time(zlib.compress(spickle.dumps(message), 3), timestamp)


# ---- FrameReader --------------------------------------------------------------------------------

def test_frames_reassemble_from_any_split() -> None:
    payloads = [b"", b"a", os.urandom(300), os.urandom(5000)]
    stream = b"".join(encode_frame(p) for p in payloads)
    for step in (1, 3, 7, 4096, len(stream)):
        reader = FrameReader(LIMIT)
        got = []
        for i in range(0, len(stream), step):
            reader.feed(stream[i:i + step])
            while (frame := reader.next_frame()) is not None:
                got.append(frame)
        assert got == payloads, step
        assert len(reader) == 0


def test_wanted_counts_the_header_then_the_body() -> None:
    reader = FrameReader(LIMIT)
    assert reader.wanted() == 4
    frame = encode_frame(b"x" * 10)
    reader.feed(frame[:2])
    assert reader.wanted() == 2
    reader.feed(frame[2:6])
    assert reader.wanted() == 8
    reader.feed(frame[6:])
    assert reader.wanted() == 0 and reader.next_frame() == b"x" * 10 and reader.wanted() == 4


@pytest.mark.parametrize("length", [0x7FFFFFFF, LIMIT + 1, -1, -0x80000000])
def test_a_declared_length_outside_the_limit_is_rejected_at_once(length: int) -> None:
    reader = FrameReader(LIMIT)
    with pytest.raises(FrameError):
        reader.feed(struct.pack("i", length))  # the four length bytes are enough


def test_the_limit_itself_is_allowed_and_can_be_raised() -> None:
    reader = FrameReader(LIMIT)
    reader.feed(struct.pack("i", LIMIT))
    reader = FrameReader(LIMIT)
    with pytest.raises(FrameError):
        reader.feed(struct.pack("i", 2 * LIMIT))
    reader = FrameReader(LIMIT)
    reader.max_frame = 4 * LIMIT  # what an authenticated connection gets
    reader.feed(encode_frame(b"y" * (2 * LIMIT)))
    assert reader.next_frame() == b"y" * (2 * LIMIT)


def test_buffering_a_large_frame_is_linear() -> None:
    """48 MiB fed 8 KiB at a time: a quadratic buffer copies ~150 GB; this copies each byte about twice.
    The bound is a generous liveness bound, not a benchmark."""
    size = 48 * 1024 * 1024
    reader = FrameReader(size)
    chunk = b"z" * 8192
    started = time.monotonic()
    reader.feed(struct.pack("i", size))
    for _ in range(size // len(chunk)):
        reader.feed(chunk)
    frame = reader.next_frame()
    assert frame is not None and len(frame) == size
    assert time.monotonic() - started < 20


# ---- inflate / decode ----------------------------------------------------------------------------

def test_inflate_caps_the_inflated_size() -> None:
    bomb = zlib.compress(b"\0" * (10 * 1024 * 1024), 9)  # ~10 KiB that inflates to 10 MiB
    with pytest.raises(FrameError, match="inflates"):
        inflate(bomb, LIMIT)
    assert inflate(zlib.compress(b"ok"), LIMIT) == b"ok"


@pytest.mark.parametrize("data", [b"garbage", zlib.compress(b"abc")[:-3], zlib.compress(b"abc") + b"tail"])
def test_inflate_rejects_malformed_data(data: bytes) -> None:
    with pytest.raises(FrameError):
        inflate(data, LIMIT)


def test_decode_accepts_a_token_of_the_secret(fernet) -> None:
    message, ts = decode_message(_token(fernet, {"type": "x"}), fernet, min_timestamp=0, max_message=LIMIT)
    assert message == {"type": "x"} and ts == 1000


@pytest.mark.parametrize("frame", [
    pytest.param(os.urandom(100), id="random-bytes"),
    pytest.param(getEncryptor("another-secret").encrypt(zlib.compress(spickle.dumps("x"))), id="other-secret"),
])
def test_decode_rejects_what_the_secret_did_not_sign(fernet, frame: bytes) -> None:
    with pytest.raises(FrameError, match="secret"):
        decode_message(frame, fernet, min_timestamp=0, max_message=LIMIT)


def test_decode_rejects_old_tokens_bad_pickles_and_bombs(fernet) -> None:
    with pytest.raises(FrameError, match="older"):
        decode_message(_token(fernet, "x", 5), fernet, min_timestamp=6, max_message=LIMIT)
    with pytest.raises(FrameError, match="pickle"):
        decode_message(fernet.encrypt(zlib.compress(b"not a pickle")), fernet, min_timestamp=0, max_message=LIMIT)
    with pytest.raises(FrameError, match="inflates"):
        decode_message(fernet.encrypt(zlib.compress(b"\0" * (2 * LIMIT))), fernet, min_timestamp=0, max_message=LIMIT)


# ---- PeerConnection on a socketpair ----------------------------------------------------------------

class Pair:
    """A PeerConnection on one end of a socketpair, the raw other end, and a poller to drive it."""

    def __init__(self, fernet, limits: PeerLimits = PeerLimits()) -> None:
        self.poller = createPoller("auto")
        ours, self.theirs = socket.socketpair()
        ours.setblocking(False)
        self.messages: list = []
        self.disconnected = 0
        self.conn = PeerConnection(self.poller, limits, sock=ours, peer="test", timeout=30, send_buffer=2 ** 16,
                                   recv_buffer=2 ** 16, keepalive=None, encryptor=fernet)
        self.conn.setOnMessageReceivedCallback(self.messages.append)
        self.conn.setOnDisconnectedCallback(self._on_disconnected)

    def _on_disconnected(self) -> None:
        self.disconnected += 1

    def pump(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            self.poller.poll(0.01)

    def close(self) -> None:
        self.conn.disconnect()
        self.theirs.close()


def test_connection_drops_a_huge_prefix_without_buffering(fernet) -> None:
    pair = Pair(fernet)
    try:
        pair.theirs.sendall(struct.pack("i", 0x7FFFFFFF) + b"\0" * 100_000)
        pair.pump()
        assert pair.disconnected == 1 and pair.conn.fileno() is None
    finally:
        pair.close()


@pytest.mark.parametrize("authenticates", [True, False])
def test_connection_allows_large_frames_only_after_the_handshake(fernet, authenticates: bool) -> None:
    """A handshake frame and, pipelined behind it, a 100 KiB one: read (only) once the first authenticated."""
    pair = Pair(fernet)
    big = os.urandom(100 * 1024)
    try:
        pair.theirs.sendall(encode_frame(_token(fernet, b"k" * 32)) + encode_frame(_token(fernet, big)))

        def on_message(message):
            pair.messages.append(message)
            if authenticates:
                pair.conn.mark_authenticated()

        pair.conn.setOnMessageReceivedCallback(on_message)
        pair.pump()
        if authenticates:
            assert pair.messages == [b"k" * 32, big] and pair.disconnected == 0
        else:
            assert pair.messages == [b"k" * 32] and pair.disconnected == 1
    finally:
        pair.close()


@pytest.mark.parametrize("payload", [
    pytest.param(lambda f: encode_frame(os.urandom(200)), id="random-frame"),
    pytest.param(lambda f: encode_frame(f.encrypt(b"not zlib")), id="signed-garbage"),
    pytest.param(lambda f: encode_frame(b"x" * 60_000)[:30_000], id="partial-frame-then-wait"),
])
def test_connection_drops_frames_that_do_not_decode(fernet, payload) -> None:
    pair = Pair(fernet)
    try:
        pair.theirs.sendall(payload(fernet))
        pair.pump()
        if pair.disconnected == 0:  # a partial frame stays until the handshake deadline (the transport's sweep)
            assert len(pair.conn._reader) <= PeerLimits().handshake_bytes + 4
            pair.conn.drop("deadline")
        assert pair.disconnected == 1 and pair.messages == []
    finally:
        pair.close()


def test_a_handler_error_drops_the_connection_and_does_not_raise(fernet) -> None:
    pair = Pair(fernet)
    try:
        def boom(message):
            raise KeyError("type")
        pair.conn.setOnMessageReceivedCallback(boom)
        pair.theirs.sendall(encode_frame(_token(fernet, ["unexpected"])))
        pair.pump()  # must not raise on the "tick thread"
        assert pair.disconnected == 1
    finally:
        pair.close()


def test_sent_frames_are_what_pysyncobj_reads(fernet) -> None:
    """Wire compatibility: PeerConnection.send produces pysyncobj's own framing."""
    pair = Pair(fernet)
    try:
        pair.conn.send({"type": "append_entries", "data": b"\1" * 200_000})
        pair.theirs.settimeout(5)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack("i", buf[:4])[0]:
            pair.pump(1)
            try:
                buf += pair.theirs.recv(1 << 20)
            except TimeoutError:
                break
        (length,) = struct.unpack("i", buf[:4])
        token = buf[4:4 + length]
        assert spickle.loads(zlib.decompress(fernet.decrypt(token))) == {"type": "append_entries",
                                                                        "data": b"\1" * 200_000}
    finally:
        pair.close()
