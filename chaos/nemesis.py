"""Nemeses: seeded faults against a `MasterSet`, each injected and then healed, with a timeline.

Each nemesis is a small class with `inject(masters, rng) -> str` (what it did, to whom) and
`heal(masters) -> str`. `Schedule` runs them in a loop: wait, pick one (seeded), inject, hold it for
a while, heal, wait for the cluster to be ready again, and records every step with its time since
the run began. Faults here:

- `Kill`: kill -9 one member (a random one, or the leader), restart it on heal;
- `KillAll`: kill -9 every member at once, restart them all (a whole-cluster crash);
- `Pause`: SIGSTOP one member (the leader or a follower), SIGCONT on heal;
- `TornTail`: kill -9 one member and leave a torn record at the end of its Raft journal (the
  first bytes of a record, as a crash in the middle of an append leaves them), restart it: the
  member must drop the torn record and catch up. (Cutting into records it had already fsynced
  would be a disk losing acknowledged data, which no member can survive alone: it then refuses
  to start, its store being ahead of its log.);
- `Partition`: nftables drops between the members' network namespaces (`MasterNet`; the masters
  must run with `network=True`): the leader alone against the rest, a random minority against
  the majority, or two halves that only one member (the bridge) reaches; healed by letting
  everything through again. Clients still reach every member;
- `PowerLoss`: every member (or one) loses power: kill -9, then what its disk had not fsynced is
  dropped (lazyfs; the masters must run with `lazy_disks=True`), and it restarts on heal.

Clock offsets are not built; see docs/chaos.md.
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from .masters import MasterSet


@dataclass
class Fault:
    """One entry of the timeline."""

    at: float  # seconds since the run began
    nemesis: str
    action: str  # "inject" | "heal"
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"at": round(self.at, 3), "nemesis": self.nemesis, "action": self.action, "detail": self.detail}


def _pick(masters: MasterSet, rng: random.Random, who: str) -> int:
    live = [i for i, m in enumerate(masters.members) if m.alive and not m.paused]
    leader = masters.leader_index()
    if who == "leader" and leader is not None:
        return leader
    if who == "follower":
        followers = [i for i in live if i != leader]
        if followers:
            return rng.choice(followers)
    return rng.choice(live or list(range(len(masters.members))))


@dataclass
class Kill:
    who: str = "any"  # any | leader
    name: str = "kill"
    target: int | None = None

    def inject(self, masters: MasterSet, rng: random.Random) -> str:
        self.target = _pick(masters, rng, self.who)
        masters.kill(self.target)
        return f"kill -9 {masters.members[self.target].name} ({self.who})"

    def heal(self, masters: MasterSet) -> str:
        assert self.target is not None
        masters.start(self.target)
        return f"restart {masters.members[self.target].name}"


@dataclass
class KillAll:
    name: str = "kill-all"

    def inject(self, masters: MasterSet, rng: random.Random) -> str:
        for index in range(len(masters.members)):
            masters.kill(index)
        return "kill -9 every member"

    def heal(self, masters: MasterSet) -> str:
        masters.start()
        return "restart every member"


@dataclass
class Pause:
    who: str = "leader"  # leader | follower
    name: str = "pause"
    target: int | None = None

    def inject(self, masters: MasterSet, rng: random.Random) -> str:
        self.target = _pick(masters, rng, self.who)
        masters.pause(self.target)
        return f"SIGSTOP {masters.members[self.target].name} ({self.who})"

    def heal(self, masters: MasterSet) -> str:
        assert self.target is not None
        masters.resume(self.target)
        return f"SIGCONT {masters.members[self.target].name}"


@dataclass
class TornTail:
    """Kill a member and leave the first bytes of a record at the end of its newest journal file."""

    name: str = "torn-tail"
    target: int | None = None

    def inject(self, masters: MasterSet, rng: random.Random) -> str:
        self.target = _pick(masters, rng, "any")
        masters.kill(self.target)
        journal = _newest_journal(masters.members[self.target].data_dir)
        if journal is None:
            return f"kill -9 {masters.members[self.target].name} (no journal file to tear)"
        last = _last_record(journal.read_bytes())
        torn = last[:rng.randint(1, min(64, len(last) - 1))] if len(last) > 1 else bytes([rng.randrange(256)])
        with open(journal, "ab") as f:
            f.write(torn)
        return f"kill -9 {masters.members[self.target].name}, {len(torn)} bytes of a torn record after {journal.name}"

    def heal(self, masters: MasterSet) -> str:
        assert self.target is not None
        masters.start(self.target)
        return f"restart {masters.members[self.target].name}"


def _last_record(data: bytes) -> bytes:
    """The last whole record of a journal file (records: u32 length, u32 CRC-32, body)."""
    pos, last = 0, b""
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        if pos + 8 + length > len(data):
            break
        last, pos = data[pos:pos + 8 + length], pos + 8 + length
    return last


@dataclass
class PowerLoss:
    """Power loss of every member (`all`) or of one (see the module docstring)."""

    scope: str = "all"
    name: str = "power-loss"
    targets: list[int] = field(default_factory=list)

    def inject(self, masters: MasterSet, rng: random.Random) -> str:
        size = len(masters.members)
        self.targets = list(range(size)) if self.scope == "all" else [_pick(masters, rng, "any")]
        lost = masters.power_off(self.targets)
        names = " ".join(masters.members[i].name for i in self.targets)
        return f"power loss of {names}: {lost} unsynced pages dropped"

    def heal(self, masters: MasterSet) -> str:
        for index in self.targets:
            masters.start(index)
        return "power on " + " ".join(masters.members[i].name for i in self.targets)


@dataclass
class Partition:
    """Cut the members' network in two (see the module docstring); `shape` is leader, minority or bridge."""

    shape: str = "leader"
    name: str = "partition-leader"

    def inject(self, masters: MasterSet, rng: random.Random) -> str:
        if masters.net is None:
            raise RuntimeError(f"{self.name} needs masters in network namespaces (MasterSet(network=True))")
        size = len(masters.members)
        order = list(range(size))
        rng.shuffle(order)
        if self.shape == "leader":
            alone = _pick(masters, rng, "leader")
            groups = [{alone}, set(order) - {alone}]
        elif self.shape == "minority":
            minority = set(order[:max(1, (size - 1) // 2)])
            groups = [minority, set(order) - minority]
        else:  # bridge: the first member reaches both halves of the others, which cannot reach each other
            bridge, rest = order[0], order[1:]
            half = max(1, len(rest) // 2)
            groups = [{bridge, *rest[:half]}, {bridge, *rest[half:]}]
        masters.net.partition(groups)
        names = [" ".join(sorted(masters.members[i].name for i in group)) for group in groups]
        return "partition " + " | ".join(f"[{n}]" for n in names) + f" ({self.shape})"

    def heal(self, masters: MasterSet) -> str:
        assert masters.net is not None
        masters.net.heal()
        return "heal the network"


def _newest_journal(data_dir: Path) -> Path | None:
    candidates = [p for p in data_dir.rglob("journal") if p.is_file()]  # (raft/journal; not journal.meta)
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


NEMESES = {
    "kill": lambda: Kill("any"), "kill-leader": lambda: Kill("leader", name="kill-leader"),
    "kill-all": KillAll, "pause-leader": lambda: Pause("leader", name="pause-leader"),
    "pause-follower": lambda: Pause("follower", name="pause-follower"), "torn-tail": TornTail,
    "partition-leader": lambda: Partition("leader", name="partition-leader"),
    "partition-minority": lambda: Partition("minority", name="partition-minority"),
    "partition-bridge": lambda: Partition("bridge", name="partition-bridge"),
    "power-loss": PowerLoss, "power-loss-one": lambda: PowerLoss("one", name="power-loss-one"),
}
NETWORK_NEMESES = ("partition-leader", "partition-minority", "partition-bridge")  # need MasterSet(network=True)
DISK_NEMESES = ("power-loss", "power-loss-one")  # need MasterSet(lazy_disks=True)


@dataclass
class Schedule:
    """Inject and heal seeded faults until `stop_at` (see the module docstring)."""

    masters: MasterSet
    seed: int
    names: tuple[str, ...] = tuple(NEMESES)
    hold: tuple[float, float] = (0.5, 2.0)  # seconds a fault lasts
    gap: tuple[float, float] = (0.5, 1.5)  # seconds between faults
    timeline: list[Fault] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def run(self, stop_at: float, stopped: "object | None" = None) -> None:
        rng = random.Random(self.seed)
        while time.monotonic() < stop_at and not getattr(stopped, "is_set", lambda: False)():
            time.sleep(min(rng.uniform(*self.gap), max(0.0, stop_at - time.monotonic())))
            if time.monotonic() >= stop_at:
                break
            nemesis = NEMESES[rng.choice(self.names)]()
            self._note(nemesis.name, "inject", nemesis.inject(self.masters, rng))
            time.sleep(rng.uniform(*self.hold))
            self._note(nemesis.name, "heal", nemesis.heal(self.masters))
            try:
                self.masters.wait_ready(timeout=60)
            except RuntimeError as exc:
                self._note(nemesis.name, "not-ready", str(exc).splitlines()[0])
                raise

    def _note(self, nemesis: str, action: str, detail: str) -> None:
        self.timeline.append(Fault(time.monotonic() - self.started, nemesis, action, detail))

    @property
    def injected(self) -> int:
        return sum(1 for fault in self.timeline if fault.action == "inject")
