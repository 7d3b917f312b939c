"""Pod network namespaces for the process runtime, with pyroute2, without forking helper processes.

A sandbox is a named network namespace (`ip netns` compatible, bind-mounted under
/var/run/netns) with `lo` up and, when the node agent gives a bridge and an IP, a veth pair: the
host end enslaved to that bridge (created by the agent, never here) in hairpin mode (as the CNI bridge
plugin's `hairpinMode`, for a pod that reaches itself through a Service), the peer created directly in
the namespace as `eth0` with the pod address and a default route via the gateway. Every function
is idempotent so that a half-built sandbox can always be torn down. `attach_to_bridge` also takes a
namespace by path (`/proc/<pid>/ns/net`): the docker runtime wires its sandboxes with it.

Why threads: pyroute2's `netns.create` and `NetNS` fork a child process per call to get into the
namespace, and forking the multi-threaded agent (with its heap) was a good part of a pod start's
CPU. The network namespace is a per-thread attribute in Linux (`setns(2)`/`unshare(2)` with
CLONE_NEWNET act on the calling thread only), so here a short-lived thread enters the namespace
(or unshares a new one), opens its netlink socket there, does the work and ends: the agent's
other threads never change namespace, and a thread that could not get back is simply gone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

NETNS_DIR = netns.NETNS_RUN_DIR
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2
THREAD_NS = "/proc/thread-self/ns/net"

T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)
_dir_lock = threading.Lock()
_dir_shared = False


def path(name: str) -> str:
    """The bind-mount file of namespace `name` (open it and setns(2) to enter it); a path stays a path."""
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return name in names()


def names() -> set[str]:
    """Every named network namespace (one listing for many checks)."""
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _in_thread(work: Callable[[], T]) -> T:
    """Run `work` on a fresh thread (which may change its namespace) and return or raise what it did."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _entered(target: str | None, work: Callable[[], T]) -> T:
    """On a fresh thread: enter namespace `target` (None: unshare a new one), do `work`, go back."""
    def run() -> T:
        home = os.open(THREAD_NS, os.O_RDONLY)
        try:
            if target is None:
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            else:
                fd = os.open(target, os.O_RDONLY)
                try:
                    _check(_libc.setns(fd, CLONE_NEWNET), f"setns {target}")
                finally:
                    os.close(fd)
            try:
                return work()
            finally:
                # If this fails the thread ends anyway, and nothing else ever runs on it.
                _libc.setns(home, CLONE_NEWNET)
        finally:
            os.close(home)
    return _in_thread(run)


def _share_dir() -> None:
    """Make NETNS_DIR a shared mount once (as `ip netns add` does), so mounts below it propagate."""
    global _dir_shared
    with _dir_lock:
        if _dir_shared:
            return
        os.makedirs(NETNS_DIR, exist_ok=True)
        directory = NETNS_DIR.encode()
        if _libc.mount(b"", directory, b"none", MS_SHARED | MS_REC, None) != 0:
            _check(_libc.mount(directory, directory, b"none", MS_BIND | MS_REC, None), f"bind {NETNS_DIR}")
            _check(_libc.mount(b"", directory, b"none", MS_SHARED | MS_REC, None), f"share {NETNS_DIR}")
        _dir_shared = True


def _lo_up(ns: IPRoute) -> None:
    ns.link("set", index=1, state="up")  # loopback is always index 1 in a new namespace


def create(name: str) -> None:
    """Create namespace `name` (unless it exists) and bring its loopback up."""
    target = path(name)

    def lo_up() -> None:
        with IPRoute() as ns:
            _lo_up(ns)
    if os.path.ismount(target):
        _entered(target, lo_up)
        return
    _share_dir()
    if not os.path.exists(target):
        os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))

    def bind_new() -> None:
        _check(_libc.mount(THREAD_NS.encode(), target.encode(), b"none", MS_BIND, None), f"bind {target}")
        lo_up()
    _entered(None, bind_new)


def _link_index(ip: IPRoute, ifname: str) -> int | None:
    """The index of link `ifname` by one request (a lookup by name would dump every link)."""
    try:
        return ip.link("get", ifname=ifname)[0]["index"]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise


def _wire_host_end(ip: IPRoute, target: str, veth: str, bridge: str, address: str) -> None:
    """Host side: the veth pair (peer `eth0` in the namespace at `target`) on `bridge`, up, hairpin; and
    no neighbour entry left for `address` from an earlier pod that had it."""
    try:
        bridge_link = ip.link("get", ifname=bridge)[0]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            raise OSError(errno.ENODEV, f"bridge {bridge} does not exist") from e
        raise
    mtu = bridge_link.get("IFLA_MTU")
    index = _link_index(ip, veth)
    if index is None:
        ip.link("add", ifname=veth, kind="veth", mtu=mtu, master=bridge_link["index"], state="up",
                peer={"ifname": "eth0", "net_ns_fd": target, "mtu": mtu})
        index = _link_index(ip, veth)
    else:  # half-built earlier
        ip.link("set", index=index, master=bridge_link["index"], state="up")
    # hairpin: a pod reaching itself through a Service is DNATed back to the port it came from
    # (with br_netfilter the bridge forwards it there, which only a hairpin port allows)
    ip.link("set", index=index, kind="bridge_slave", mode=1)
    # An address given back is given out again: the host's neighbour entry for it still names the old
    # pod's MAC, and the new pod got no packet (its probes, its calls) until the entry went stale, 20-40 s.
    try:
        ip.neigh("del", dst=address, ifindex=bridge_link["index"])
    except NetlinkError as e:
        if e.code not in (errno.ENOENT, errno.ESRCH):
            raise


def _wire_pod_end(ns: IPRoute, address: str, prefix_len: int, gateway: str | None) -> None:
    """Inside the namespace: `eth0` up with `address/prefix_len`, default route via `gateway`."""
    eth0 = _link_index(ns, "eth0")
    if eth0 is None:
        raise OSError(errno.ENODEV, "eth0 is missing in the pod's namespace")
    try:
        ns.addr("add", index=eth0, address=address, prefixlen=prefix_len)
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise
    ns.link("set", index=eth0, state="up")
    if gateway:
        ns.route("replace", dst="default", gateway=gateway)


def create_attached(name: str, veth: str, bridge: str, address: str, prefix_len: int,
                    gateway: str | None) -> None:
    """`create(name)` and `attach_to_bridge(name, ...)` in one go: one thread, two netlink sockets."""
    target = path(name)
    if os.path.ismount(target):  # half-built earlier: the idempotent way
        create(name)
        attach_to_bridge(name, veth, bridge, address, prefix_len, gateway)
        return
    _share_dir()
    if not os.path.exists(target):
        os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    host = os.open(THREAD_NS, os.O_RDONLY)

    def build() -> None:
        _check(_libc.mount(THREAD_NS.encode(), target.encode(), b"none", MS_BIND, None), f"bind {target}")
        with IPRoute() as ns:
            _lo_up(ns)
            _check(_libc.setns(host, CLONE_NEWNET), "setns back to the host")
            with IPRoute() as ip:  # opened in the host's namespace
                _wire_host_end(ip, target, veth, bridge, address)
            _wire_pod_end(ns, address, prefix_len, gateway)
    try:
        _entered(None, build)
    finally:
        os.close(host)


def attach_to_bridge(name: str, veth: str, bridge: str, address: str, prefix_len: int,
                     gateway: str | None) -> None:
    """Wire namespace `name` (or the namespace at a path) to `bridge`: host-side `veth`, `eth0` =
    `address/prefix_len` inside, default route via `gateway`."""
    target = path(name)
    with IPRoute() as ip:
        _wire_host_end(ip, target, veth, bridge, address)

    def inside() -> None:
        with IPRoute() as ns:
            _wire_pod_end(ns, address, prefix_len, gateway)
    _entered(target, inside)


def delete(name: str, veth: str | None) -> None:
    """Delete the host end of `veth` (which takes the peer with it) and namespace `name`."""
    if veth:
        with IPRoute() as ip:
            try:
                ip.link("del", ifname=veth)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise
    target = path(name)
    _libc.umount2(target.encode(), MNT_DETACH)
    try:
        os.unlink(target)
    except FileNotFoundError:
        pass
