"""Slurm job states for many jobs at once: one batched query, and a fallback chain for jobs it misses.

Polling each job with its own `squeue` is what Slurm's documentation warns against (every call is
an RPC to slurmctld). `query_states` asks about all the active jobs of one cluster with ONE

    squeue -h -t all -j ID1,ID2,... -o '%i|%T|%N|%S|%e'

and only for ids that squeue no longer knows (a job older than MinJobAge, or a cluster that purged
it) goes down the chain: one `scontrol show job -o` (every job slurmctld still holds), then `sacct`
when the cluster has accounting, then the job completion file (`JobCompLoc` of jobcomp/filetxt,
read over SFTP, no RPC). Parsers are pure functions over the commands' text.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .session import SessionError, SlurmSession

ENDED_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                          "DEADLINE", "PREEMPTED", "REVOKED"})
RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"})
SQUEUE_FORMAT = "%i|%T|%N|%S|%e"
JOBCOMP_TAIL = 1024 * 1024  # bytes of the job completion file read
_PAIR = re.compile(r"(\w+)=(\S*)")
_JOB_ID = re.compile(r"[0-9]{1,12}")
_CONFIG_LINE = re.compile(r"\s*(\w+)\s*=\s*(\S*)")  # `JobCompLoc              = /var/log/jobcomp.txt`


@dataclass(frozen=True)
class SlurmJob:
    """What Slurm says of one job."""

    job_id: str
    state: str  # Slurm's, e.g. PENDING, RUNNING, COMPLETED, CANCELLED (a "by 0" suffix dropped)
    nodes: str = ""
    start: str | None = None  # Slurm's local time text (YYYY-MM-DDTHH:MM:SS)
    end: str | None = None
    exit_code: int | None = None  # from `ExitCode=N:S` where a source gives it
    source: str = "squeue"

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


def _time(text: str | None) -> str | None:
    return text if text and text not in ("N/A", "Unknown", "None", "(null)") else None


def _state(text: str) -> str:
    return text.split()[0].rstrip("+").upper() if text.strip() else "UNKNOWN"


def _exit(text: str | None) -> int | None:
    """Slurm's `ExitCode=N:S` as a shell would report it: N, or 128+S for a job killed by signal S."""
    code, _, sig = (text or "").partition(":")
    if not code.isdigit():
        return None
    if int(code) == 0 and sig.isdigit() and 0 < int(sig) <= 64:  # (OUT_OF_MEMORY's 0:125 is no signal)
        return 128 + int(sig)
    return int(code)


def parse_squeue(text: str) -> dict[str, SlurmJob]:
    """Lines of `squeue -h -o '%i|%T|%N|%S|%e'`."""
    jobs = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 5 or not _JOB_ID.fullmatch(parts[0]):
            continue
        jobs[parts[0]] = SlurmJob(parts[0], _state(parts[1]), parts[2] if parts[2] != "(null)" else "",
                                  _time(parts[3]), _time(parts[4]))
    return jobs


def _from_pairs(text: str, source: str) -> dict[str, SlurmJob]:
    """`Key=Value` lines (`scontrol show job -o`, the jobcomp file): the latest line of each job wins."""
    jobs = {}
    for line in text.splitlines():
        pairs = dict(_PAIR.findall(line))
        job_id = pairs.get("JobId", "")
        if not _JOB_ID.fullmatch(job_id) or "JobState" not in pairs:
            continue
        nodes = pairs.get("NodeList", "")
        jobs[job_id] = SlurmJob(job_id, _state(pairs["JobState"]), "" if nodes == "(null)" else nodes,
                                _time(pairs.get("StartTime")), _time(pairs.get("EndTime")),
                                _exit(pairs.get("ExitCode")), source)
    return jobs


def parse_scontrol(text: str) -> dict[str, SlurmJob]:
    return _from_pairs(text, "scontrol")


def parse_jobcomp(text: str) -> dict[str, SlurmJob]:
    return _from_pairs(text, "jobcomp")


def parse_sacct(text: str) -> dict[str, SlurmJob]:
    """Lines of `sacct -n -P -X -o JobID,State,ExitCode,NodeList,Start,End`."""
    jobs = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 6 or not _JOB_ID.fullmatch(parts[0]):
            continue
        jobs[parts[0]] = SlurmJob(parts[0], _state(parts[1]), parts[3] if parts[3] != "None assigned" else "",
                                  _time(parts[4]), _time(parts[5]), _exit(parts[2]), "sacct")
    return jobs


class StateQuery:
    """The batched query and its fallbacks for one cluster (remembers what the cluster lacks)."""

    def __init__(self, session: SlurmSession) -> None:
        self.session = session
        self.has_sacct: bool | None = None  # unknown until tried
        self.jobcomp_path: str | None = None
        self.jobcomp_known = False
        self.queries = 0  # commands that reached slurmctld (squeue, scontrol, sacct)

    def query_states(self, job_ids: list[str]) -> dict[str, SlurmJob]:
        """What Slurm says of each of `job_ids` (ids no source knows are left out). Raises SessionError
        when the login cannot be reached."""
        ids = sorted({i for i in job_ids if _JOB_ID.fullmatch(i)}, key=int)
        if not ids:
            return {}
        self.queries += 1
        found = {i: j for i, j in parse_squeue(self.session.run(
            f"squeue -h -t all -j {','.join(ids)} -o {shlex.quote(SQUEUE_FORMAT)}").stdout).items() if i in ids}
        missing = [i for i in ids if i not in found]
        if missing:
            found.update(self._fallback(missing))
        return found

    def exit_codes(self, job_ids: list[str]) -> dict[str, int]:
        """Exit codes of ended jobs from `scontrol show job -o` (one call for all of them)."""
        self.queries += 1
        jobs = parse_scontrol(self.session.run("scontrol show job -o").stdout)
        return {i: jobs[i].exit_code for i in job_ids if i in jobs and jobs[i].exit_code is not None}

    def _fallback(self, missing: list[str]) -> dict[str, SlurmJob]:
        self.queries += 1
        found = {i: j for i, j in parse_scontrol(self.session.run("scontrol show job -o").stdout).items()
                 if i in missing}
        rest = [i for i in missing if i not in found]
        if rest and self.has_sacct is not False:
            self.queries += 1
            result = self.session.run(f"sacct -n -P -X -j {','.join(rest)} "
                                      "-o JobID,State,ExitCode,NodeList,Start,End")
            self.has_sacct = result.code == 0
            if result.code == 0:
                found.update({i: j for i, j in parse_sacct(result.stdout).items() if i in rest})
        rest = [i for i in missing if i not in found]
        if rest and (path := self._jobcomp_path()):
            try:
                tail = self.session.read_file(path, limit=JOBCOMP_TAIL)
            except SessionError:
                tail = None
            if tail is not None:
                found.update({i: j for i, j in parse_jobcomp(tail[0].decode(errors="replace")).items()
                              if i in rest})
        return found

    def _jobcomp_path(self) -> str | None:
        """The jobcomp/filetxt file of the cluster (asked once per session), or None."""
        if not self.jobcomp_known:
            self.queries += 1
            config = {m.group(1): m.group(2) for line in self.session.run("scontrol show config").stdout.splitlines()
                      if (m := _CONFIG_LINE.match(line))}
            self.jobcomp_known = True
            if config.get("JobCompType") == "jobcomp/filetxt" and config.get("JobCompLoc", "").startswith("/"):
                self.jobcomp_path = config["JobCompLoc"]
        return self.jobcomp_path
