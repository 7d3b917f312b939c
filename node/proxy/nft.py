"""Running `nft`: apply a script atomically, read what the proxy's table holds, delete the table.

The proxy speaks to the kernel through the `nft` command (Debian's `nftables` package), like
kube-proxy through knftables: a whole transaction is written to `nft -f -` and either applies
entirely or not at all. `prefix` runs the command elsewhere (`nsenter --net=…` for another network
namespace: tests, benchmarks and `minik8s down`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence

from . import table
from .transaction import KernelState

TIMEOUT = 60.0  # seconds one nft run may take (a full sync of thousands of Services takes a few)


class NftError(RuntimeError):
    """`nft` failed (its message says which command of the script the kernel refused)."""


def nft_binary() -> str | None:
    """Where `nft` is, or None (it is usually in /usr/sbin, which a user's PATH may lack)."""
    return shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")


class Nft:
    """The `nft` command, for the table `ip minik8s` only."""

    def __init__(self, binary: str | None = None, *, prefix: Sequence[str] = ()) -> None:
        found = binary or nft_binary()
        if found is None:
            raise NftError("nft not found: install Debian's nftables package (scripts/install.sh does)")
        self._argv = [*prefix, found]

    def _run(self, args: list[str], script: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([*self._argv, *args], input=script, capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NftError(f"nft {' '.join(args)}: {exc}") from exc

    def apply(self, script: str) -> None:
        """Run `script` as one transaction; NftError (with nft's message) if the kernel refuses it."""
        done = self._run(["-f", "-"], script)
        if done.returncode != 0:
            raise NftError(f"nft -f - failed: {done.stderr.strip()[:2000]}")

    def list_table(self) -> str | None:
        """`nft list table ip minik8s` (None when there is no such table)."""
        done = self._run(["list", "table", table.FAMILY, table.NAME])
        return done.stdout if done.returncode == 0 else None

    def kernel_state(self) -> KernelState:
        """The per-Service chains and sets the table holds now (empty when there is no table)."""
        done = self._run(["-j", "-t", "list", "table", table.FAMILY, table.NAME])
        if done.returncode != 0:
            if "No such file or directory" in done.stderr:
                return KernelState()
            raise NftError(f"nft list table failed: {done.stderr.strip()[:2000]}")
        return parse_kernel_state(done.stdout)

    def delete_table(self) -> bool:
        """Delete the table (and only it); False when there was none."""
        done = self._run(["delete", "table", table.FAMILY, table.NAME])
        if done.returncode == 0:
            return True
        if "No such file or directory" in done.stderr:
            return False
        raise NftError(f"nft delete table failed: {done.stderr.strip()[:2000]}")


def parse_kernel_state(text: str) -> KernelState:
    """The chains and (non-map) sets in `nft -j list table` output."""
    chains: set[str] = set()
    sets: dict[str, int | None] = {}
    for item in json.loads(text).get("nftables") or []:
        if "chain" in item:
            chains.add(item["chain"]["name"])
        elif "set" in item:
            timeout = item["set"].get("timeout")
            sets[item["set"]["name"]] = timeout if isinstance(timeout, int) else None
    return KernelState(frozenset(chains), sets)
