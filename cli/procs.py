"""Whether a process the local cluster started still runs (one definition for `up`, its engines and registry)."""

from __future__ import annotations

import os


def alive(pid: int, comm: str | None = None) -> bool:
    """Whether `pid` runs (and, given `comm`, is that program): our exited child is reaped first,
    and a zombie of another parent counts as gone."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and (comm is None or name == comm)
