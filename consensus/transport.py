"""pysyncobj's TCP transport, hardened against strangers on the Raft port.

Anyone who can reach a member's Raft port can open connections to it. pysyncobj 0.3.17 trusts
them: it buffers whatever length a frame declares (quadratically, with `bytes +=`), keeps a
connection that never authenticates open for ever, lets it hold any amount of unparsed data,
accepts any number of them, unbinds its listening socket for good on the first accept error
(EMFILE), and raises on the tick thread when an authenticated message has an unexpected type.
A 48 MiB stream after a `0x7fffffff` length prefix stalled a leader for ~13 s.

Here the member uses its own connection and server classes behind pysyncobj's `TCPTransport`
(same wire format, so the Raft protocol is unchanged):

- a frame's declared length is checked as soon as its four length bytes arrive: at most
  `handshake_bytes` (64 KiB) before the connection has authenticated, `max_frame_bytes` after;
  buffering is linear (`FrameReader`), inflating is capped, every parse error drops the connection;
- before authenticating, a connection reads exactly one frame at a time, so it never holds more
  than one small frame;
- "authenticated" means pysyncobj's handshake completed: for an incoming connection a Fernet
  token under the cluster secret that carries this connection's fresh random key and names one of
  `--peers` (a replayed token cannot carry the key); for an outgoing one, the peer's reply bound to
  our key. Connections that have not authenticated within `handshake_timeout` are closed; claims of
  an address outside `--peers`, read-only nodes and pysyncobj's admin ("utility") commands are refused;
- at most `max_handshakes` connections may be waiting to authenticate; beyond that the oldest of
  those that have not yet sent a valid token are closed first, so a flood of connections from
  strangers cannot close a real peer's handshake once its first message is in;
- one read event reads at most `read_budget_bytes`, so a fast sender cannot hold the tick thread;
- accept errors are logged and survived; the member never stops listening because of one.

Everything here runs on pysyncobj's tick thread, like the code it replaces.
"""

from __future__ import annotations

import errno
import functools
import hmac
import logging
import os
import socket
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pysyncobj.pickle as _pickle
from pysyncobj.dns_resolver import globalDnsResolver
from pysyncobj.monotonic import monotonic
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE, _getAddrType, set_keepalive
from pysyncobj.transport import TCPTransport
from pysyncobj.version import VERSION as PYSYNCOBJ_VERSION

from .framing import HEADER, FrameError, FrameReader, decode_message

PINNED_PYSYNCOBJ = "0.3.17"
if PYSYNCOBJ_VERSION != PINNED_PYSYNCOBJ:  # the classes below replace and rely on its internals
    raise ImportError(f"minik8s.consensus needs pysyncobj=={PINNED_PYSYNCOBJ} (found {PYSYNCOBJ_VERSION})")

log = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB
_RAND_KEY_BYTES = 32  # pysyncobj's os.urandom(32) connection keys
_ACCEPTS_PER_EVENT = 16
_TRANSIENT_ACCEPT_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED,
                            errno.EPROTO, errno.EPERM, errno.ETIMEDOUT}


@dataclass(frozen=True)
class PeerLimits:
    """What a Raft peer connection may cost this member.

    `max_frame_bytes` bounds one authenticated frame on the wire. pysyncobj sends an
    append_entries batch of up to 64 KiB of entries plus, at most, one more entry whole (a lone
    entry over 64 KiB and snapshot data go in 64 KiB chunks), zlib-compressed and then
    Fernet-encoded (+1/3). So a frame is at most ~4/3 of the largest entry plus 64 KiB: an object
    created within the API's 3 MiB body limit makes a ~4 MiB frame; 64 MiB leaves room for objects
    grown by later patches and is still a bounded cost. A member logs an error when it would send
    a larger frame (the peer would drop the connection).
    """

    max_frame_bytes: int = 64 * MiB
    max_message_bytes: int = 256 * MiB  # one authenticated message after inflating
    handshake_bytes: int = 64 * KiB  # one frame, and all that is buffered, before authenticating
    handshake_timeout: float = 3.0  # seconds from accept (or connect) to an authenticated handshake
    max_handshakes: int = 64  # connections waiting to authenticate at one time
    read_budget_bytes: int = 4 * MiB  # read per poll event on one connection


class _DropLog:
    """Logs dropped unauthenticated connections at most once per interval, with a count."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._count = 0
        self._next = 0.0

    def note(self, peer: str, reason: str) -> None:
        self._count += 1
        now = monotonic()
        if now >= self._next:
            log.warning("raft: closed %d unauthenticated connection(s) on the Raft port (reported at most every %.0fs); "
                        "latest from %s: %s", self._count, self.interval, peer or "?", reason)
            self._count = 0
            self._next = now + self.interval


_drops = _DropLog()


class _BadMessage(Exception):
    """An authenticated message of a shape pysyncobj does not expect."""


class PeerConnection:
    """One Raft TCP connection, with the interface `TCPTransport` uses of pysyncobj's TcpConnection."""

    def __init__(self, poller: Any, limits: PeerLimits, *, sock: socket.socket | None = None, peer: str = "",
                 timeout: float, send_buffer: int, recv_buffer: int, keepalive: Any, encryptor: Any) -> None:
        self.sendRandKey: bytes | None = None
        self.recvRandKey: bytes | None = None
        self.recvLastTimestamp = 0
        self.encryptor = encryptor
        self.authenticated = False
        self.peer = peer
        self.opened_at = monotonic()
        self._poller = poller
        self._limits = limits
        self._timeout = timeout
        self._send_buffer = send_buffer
        self._recv_buffer = recv_buffer
        self._keepalive = keepalive
        self._reader = FrameReader(limits.handshake_bytes)
        self._wbuf = bytearray()
        self._last_read = self.opened_at
        self._mask: int | None = None
        self._on_message: Callable[[Any], None] | None = None
        self._on_connected: Callable[[], None] | None = None
        self._on_disconnected: Callable[[], None] | None = None
        self._sock = sock
        self._fileno: int | None = None
        self._state = CONNECTION_STATE.DISCONNECTED
        if sock is not None:
            self._fileno = sock.fileno()
            self._state = CONNECTION_STATE.CONNECTED
            self._set_keepalive()
            self._subscribe()

    # ---- the interface TCPTransport uses ------------------------------------------------------

    @property
    def state(self) -> int:
        return self._state

    def setOnConnectedCallback(self, callback: Callable[[], None] | None) -> None:  # noqa: N802
        self._on_connected = callback

    def setOnMessageReceivedCallback(self, callback: Callable[[Any], None] | None) -> None:  # noqa: N802
        self._on_message = callback

    def setOnDisconnectedCallback(self, callback: Callable[[], None] | None) -> None:  # noqa: N802
        self._on_disconnected = callback

    def fileno(self) -> int | None:
        return self._fileno

    def getSendBufferSize(self) -> int:  # noqa: N802
        return len(self._wbuf)

    def connect(self, host: str | None, port: int) -> bool:
        if host is None:
            return False
        self._close_socket()
        self._reset()
        self.opened_at = self._last_read = monotonic()
        try:
            sock = socket.socket(_getAddrType(host), socket.SOCK_STREAM)
        except Exception:
            return False
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._recv_buffer)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            self._sock = sock
            self._set_keepalive()
            sock.connect((host, port))
        except OSError as exc:
            if exc.errno not in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                sock.close()
                self._sock = None
                return False
        self._fileno = sock.fileno()
        self._state = CONNECTION_STATE.CONNECTING
        self._subscribe()
        return True

    def send(self, message: Any) -> None:
        if self._state == CONNECTION_STATE.DISCONNECTED:
            return
        if self.sendRandKey:
            message = (self.sendRandKey, message)
        data = zlib.compress(_pickle.dumps(message), 3)
        if self.encryptor:
            data = self.encryptor.encrypt_at_time(data, int(monotonic()))
        if len(data) > self._limits.max_frame_bytes:
            log.error("raft: sending a %d-byte frame to %s, over the %d-byte frame limit: the peer will drop "
                      "the connection (raise PeerLimits.max_frame_bytes on every member)",
                      len(data), self.peer or "?", self._limits.max_frame_bytes)
        self._wbuf += HEADER.pack(len(data))
        self._wbuf += data
        self._flush()

    def disconnect(self) -> None:
        notify = self._on_disconnected is not None and self._state != CONNECTION_STATE.DISCONNECTED
        self._close_socket()
        self._reset()
        if notify:
            self._on_disconnected()  # type: ignore[misc]

    # ---- hardening ----------------------------------------------------------------------------

    def mark_authenticated(self) -> None:
        """The handshake completed: allow full-size frames from now on."""
        self.authenticated = True
        self._reader.max_frame = self._limits.max_frame_bytes

    def drop(self, reason: str) -> None:
        if self._state == CONNECTION_STATE.DISCONNECTED:
            return
        if self.authenticated:
            log.warning("raft: closing the connection with %s: %s", self.peer or "?", reason)
        else:
            _drops.note(self.peer, reason)
        self.disconnect()

    # ---- internals ----------------------------------------------------------------------------

    def _reset(self) -> None:
        self.sendRandKey = None
        self.recvRandKey = None
        self.recvLastTimestamp = 0
        self.authenticated = False
        self._reader = FrameReader(self._limits.handshake_bytes)
        self._wbuf = bytearray()
        self._state = CONNECTION_STATE.DISCONNECTED

    def _close_socket(self) -> None:
        if self._fileno is not None:
            self._poller.unsubscribe(self._fileno)
            self._fileno = None
        self._mask = None
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _set_keepalive(self) -> None:
        if self._sock is not None and self._keepalive is not None:
            try:
                set_keepalive(self._sock, *self._keepalive)
            except OSError:
                pass

    def _subscribe(self) -> None:
        if self._fileno is None:
            return
        mask = POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR
        if self._wbuf or self._state == CONNECTION_STATE.CONNECTING:
            mask |= POLL_EVENT_TYPE.WRITE
        if mask != self._mask:
            self._mask = mask
            self._poller.subscribe(self._fileno, self._on_event, mask)

    def _timed_out(self) -> bool:
        if monotonic() - self._last_read > self._timeout:
            self.disconnect()
            return True
        return False

    def _on_event(self, descr: int, event: int) -> None:
        if descr != self._fileno:
            self._poller.unsubscribe(descr)
            return
        if event & POLL_EVENT_TYPE.ERROR:
            self.disconnect()
            return
        if self._timed_out():
            return
        if self._state == CONNECTION_STATE.CONNECTING:
            if not event & (POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE):
                return
            if self._sock is None or self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.disconnect()
                return
            if self._on_connected is not None:
                self._on_connected()  # sends this side's key; the state is still CONNECTING here
            if self._state == CONNECTION_STATE.DISCONNECTED:
                return
            self._state = CONNECTION_STATE.CONNECTED
            self._last_read = monotonic()
            self._subscribe()
            return
        if event & POLL_EVENT_TYPE.WRITE:
            self._flush()
            if self._state == CONNECTION_STATE.DISCONNECTED:
                return
        if event & POLL_EVENT_TYPE.READ:
            self._read()

    def _flush(self) -> None:
        if self._timed_out():
            return
        while self._wbuf and self._sock is not None:
            try:
                sent = self._sock.send(self._wbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.disconnect()
                return
            if sent <= 0:
                break
            del self._wbuf[:sent]
        self._subscribe()  # wait for the socket to drain rather than for the next send

    def _read(self) -> None:
        budget = self._limits.read_budget_bytes
        while budget > 0 and self._state != CONNECTION_STATE.DISCONNECTED and self._sock is not None:
            # Before authenticating, read only up to the end of the current frame: whatever a
            # stranger sends beyond one small frame stays in the kernel until it proves itself.
            size = self._recv_buffer if self.authenticated else min(self._recv_buffer, self._reader.wanted())
            try:
                data = self._sock.recv(size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.disconnect()
                return
            if not data:
                self.disconnect()
                return
            self._last_read = monotonic()
            budget -= len(data)
            try:
                self._reader.feed(data)
            except FrameError as exc:
                self.drop(str(exc))
                return
            self._dispatch()

    def _dispatch(self) -> None:
        while self._state != CONNECTION_STATE.DISCONNECTED:
            limit = self._limits.max_message_bytes if self.authenticated else self._limits.handshake_bytes
            try:
                frame = self._reader.next_frame()
                if frame is None:
                    return
                message, timestamp = decode_message(frame, self.encryptor, min_timestamp=self.recvLastTimestamp,
                                                    max_message=limit)
                self.recvLastTimestamp = timestamp
                if self.recvRandKey:
                    if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], bytes)
                            and hmac.compare_digest(message[0], self.recvRandKey)):
                        raise FrameError("message not bound to this connection's key")
                    message = message[1]
            except FrameError as exc:
                self.drop(str(exc))
                return
            callback = self._on_message
            if callback is None:
                continue
            try:
                callback(message)
            except _BadMessage as exc:
                self.drop(str(exc))
                return
            except Exception:
                log.exception("raft: handling a message from %s failed; closing the connection", self.peer or "?")
                self.disconnect()
                return


class PeerServer:
    """The listening socket; accepted connections are `PeerConnection`s."""

    def __init__(self, poller: Any, host: str, port: int, *, on_connection: Callable[[PeerConnection], None],
                 make_connection: Callable[[socket.socket, str], PeerConnection], on_failure: Callable[[], None],
                 send_buffer: int, recv_buffer: int, backlog: int = 128) -> None:
        self._poller = poller
        self._host = host
        self._port = int(port)
        self._on_connection = on_connection
        self._make_connection = make_connection
        self._on_failure = on_failure
        self._send_buffer = send_buffer
        self._recv_buffer = recv_buffer
        self._backlog = backlog
        self._sock: socket.socket | None = None
        self._fileno: int | None = None
        self._errors = _DropLog(interval=10.0)

    def bind(self) -> None:
        sock = socket.socket(_getAddrType(self._host), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._recv_buffer)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((self._host, self._port))
            sock.listen(self._backlog)
        except Exception:
            sock.close()
            raise
        self._sock = sock
        self._fileno = sock.fileno()
        self._poller.subscribe(self._fileno, self._on_event, POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR)

    def unbind(self) -> None:
        if self._fileno is not None:
            self._poller.unsubscribe(self._fileno)
            self._fileno = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _on_event(self, descr: int, event: int) -> None:
        if descr != self._fileno or self._sock is None:
            self._poller.unsubscribe(descr)
            return
        if event & POLL_EVENT_TYPE.ERROR:
            log.error("raft: the listening socket %s:%s failed; binding it again", self._host, self._port)
            self.unbind()
            self._on_failure()
            return
        for _ in range(_ACCEPTS_PER_EVENT):
            try:
                sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # pysyncobj stops listening for good here (e.g. on EMFILE); keep serving peers.
                level = "transient" if exc.errno in _TRANSIENT_ACCEPT_ERRORS else "unexpected"
                self._errors.note(f"{self._host}:{self._port}", f"{level} accept error: {exc}")
                return
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._send_buffer)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._recv_buffer)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
            except OSError:
                sock.close()
                continue
            peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)
            self._on_connection(self._make_connection(sock, peer))


def _is_rand_key(message: Any) -> bool:
    return isinstance(message, bytes) and len(message) == _RAND_KEY_BYTES


class HardenedTCPTransport(TCPTransport):
    """pysyncobj's TCPTransport with `PeerConnection`s, a `PeerServer` and a handshake deadline.

    SyncObj builds it as `transportClass(syncObj, selfNode, otherNodes)`; the limits come from
    `syncObj.peer_limits` (RaftMember sets it before SyncObj's constructor runs).
    """

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:  # noqa: N803 (pysyncobj's names)
        if syncObj.encryptor is None:
            raise ValueError("Raft peers must authenticate: a cluster secret (pysyncobj password) is required; "
                             "without one anyone who reaches the Raft port can run code in this member")
        self._limits: PeerLimits = getattr(syncObj, "peer_limits", None) or PeerLimits()
        self._previous_sweep = monotonic()
        self._retired: list[PeerConnection] = []
        super().__init__(syncObj, selfNode, otherNodes)

    def _new_connection(self, sock: socket.socket | None = None, peer: str = "") -> PeerConnection:
        conf = self._syncObj.conf
        return PeerConnection(self._syncObj._poller, self._limits, sock=sock, peer=peer,
                              timeout=conf.connectionTimeout, send_buffer=conf.sendBufferSize,
                              recv_buffer=conf.recvBufferSize, keepalive=conf.tcp_keepalive,
                              encryptor=self._syncObj.encryptor)

    # ---- replaced construction of the server and outgoing connections -------------------------

    def _createServer(self) -> None:  # noqa: N802
        conf = self._syncObj.conf
        bind_addr = conf.bindAddress
        self_addr = getattr(self._selfNode, "address")
        if bind_addr is not None:
            host, port = bind_addr.rsplit(":", 1)
        elif self_addr is not None:
            host, port = self_addr.rsplit(":", 1)
            host = "::" if ":" in host else "0.0.0.0"
        else:
            raise RuntimeError("Unable to determine bind address")
        if host != "0.0.0.0":
            host = globalDnsResolver().resolve(host)
        self._server = PeerServer(self._syncObj._poller, host, int(port), on_connection=self._onNewIncomingConnection,
                                  make_connection=lambda sock, peer: self._new_connection(sock, peer),
                                  on_failure=self._server_failed, send_buffer=conf.sendBufferSize,
                                  recv_buffer=conf.recvBufferSize)

    def _server_failed(self) -> None:
        self._ready = False  # tryGetReady binds again after bindRetryTime

    def addNode(self, node: Any) -> None:  # noqa: N802
        self._nodes.add(node)
        self._nodeAddrToNode[node.address] = node
        if self._shouldConnect(node):
            conn = self._new_connection(peer=node.address)
            conn.setOnConnectedCallback(functools.partial(self._onOutgoingConnected, conn))
            conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, node))
            conn.setOnDisconnectedCallback(functools.partial(self._onDisconnected, conn))
            self._connections[node] = conn

    # ---- the handshake ------------------------------------------------------------------------

    def _onIncomingMessageReceived(self, conn: PeerConnection, message: Any) -> None:  # noqa: N802
        if not conn.sendRandKey:
            # First message: the peer's random key, in a valid token (which a stranger may have replayed).
            if not _is_rand_key(message):
                raise _BadMessage("the first message is not a connection key")
            conn.sendRandKey = message
            conn.recvRandKey = os.urandom(_RAND_KEY_BYTES)
            conn.send(conn.recvRandKey)
            return
        # Second message, bound to our fresh key: the peer's own Raft address, one of --peers.
        node = self._nodeAddrToNode.get(message) if isinstance(message, str) else None
        if node is None:
            what = "a read-only node" if message == "readonly" else (
                "an admin command" if isinstance(message, list) else f"address {str(message)[:100]!r}")
            log.warning("raft: refused a connection from %s that knows the cluster secret: %s is not one of the "
                        "peers (%s)", conn.peer or "?", what, ", ".join(sorted(self._nodeAddrToNode)) or "none")
            raise _BadMessage("not a peer")
        if self._shouldConnect(node):
            raise _BadMessage(f"{node.address} connects to us only through our own outgoing connection")
        old = self._connections.get(node)
        if old is not None and old is not conn:
            self._retire(old)  # the peer reconnected; the old connection is dead to it
        conn.mark_authenticated()
        conn.peer = node.address
        self._unknownConnections.discard(conn)
        self._connections[node] = conn
        conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, node))
        self._onNodeConnected(node)

    def _onOutgoingMessageReceived(self, conn: PeerConnection, message: Any) -> None:  # noqa: N802
        # The peer's reply to our key, bound to it (PeerConnection checked): it knows the secret.
        if not conn.sendRandKey and not _is_rand_key(message):
            raise _BadMessage("the reply is not a connection key")
        conn.mark_authenticated()
        super()._onOutgoingMessageReceived(conn, message)

    def _onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802
        if not (isinstance(message, dict) and isinstance(message.get("type"), str)):
            raise _BadMessage(f"a {type(message).__name__} is not a Raft message")
        super()._onMessageReceived(node, message)

    def _retire(self, conn: PeerConnection) -> None:
        """Forget a superseded connection now and close it at the next tick (not inside a poll)."""
        for n, c in list(self._connections.items()):
            if c is conn:
                del self._connections[n]
        conn.setOnMessageReceivedCallback(None)
        conn.setOnDisconnectedCallback(None)
        self._retired.append(conn)

    # ---- deadlines and caps, once per tick, before pysyncobj polls -----------------------------

    def _onTick(self) -> None:  # noqa: N802
        super()._onTick()
        self._sweep()

    def _sweep(self) -> None:
        now = monotonic()
        # Expire only connections whose deadline passed before the previous sweep: a poll has run
        # since, so one whose handshake was waiting in the kernel (the tick thread was busy, e.g.
        # writing a snapshot) has been read, and a slow tick never costs a real peer its connection.
        cutoff = self._previous_sweep - self._limits.handshake_timeout
        self._previous_sweep = now
        retired, self._retired = self._retired, []
        for conn in retired:
            conn.disconnect()
        timeout = self._limits.handshake_timeout
        for conn in sorted(self._unknownConnections, key=lambda c: c.opened_at):
            if conn.opened_at < cutoff:
                conn.drop(f"no authenticated handshake within {timeout:g}s")
        # Over the cap, close first those that have not even sent a valid token (a stranger cannot),
        # oldest first; a real peer's connection has, one round trip after it connected.
        waiting = sorted((c for c in self._unknownConnections if c.state != CONNECTION_STATE.DISCONNECTED),
                         key=lambda c: (c.sendRandKey is not None, c.opened_at))
        for conn in waiting[:max(0, len(waiting) - self._limits.max_handshakes)]:
            conn.drop(f"more than {self._limits.max_handshakes} connections waiting to authenticate")
        for conn in list(self._connections.values()):
            if (isinstance(conn, PeerConnection) and not conn.authenticated
                    and conn.state != CONNECTION_STATE.DISCONNECTED and conn.opened_at < cutoff):
                conn.drop(f"the peer did not complete the handshake within {timeout:g}s")

    def destroy(self) -> None:
        super().destroy()
        retired, self._retired = self._retired, []
        for conn in retired:
            conn.disconnect()
