"""Unit tests of Slurm job states (minik8s.slurm.states): the parsers over what Slurm 22.05 prints, and
StateQuery's one batched squeue with its scontrol -> sacct -> jobcomp fallback chain (a fake session);
and the controller's pure helpers (times, conditions, output file names)."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from minik8s.slurm.controller import _condition, _file_name, slurm_time
from minik8s.slurm.session import CommandResult, SessionError
from minik8s.slurm.states import (JOBCOMP_TAIL, SlurmJob, StateQuery, parse_jobcomp, parse_sacct, parse_scontrol,
                                  parse_squeue)

T1, T2 = "2026-12-06T14:10:03", "2026-12-06T14:10:04"

# ---- realistic outputs (Slurm 22.05) -------------------------------------------------------------

SQUEUE = f"""\
12|COMPLETED|host1|{T1}|{T2}
13|PENDING||N/A|N/A
14|RUNNING|gpu-[01-02]|{T1}|2026-12-06T14:15:03
15|CANCELLED by 0|host1|{T1}|{T2}
16|TIMEOUT|(null)|{T1}|{T2}
"""


def scontrol_line(job_id: str, state: str, exit_code: str = "0:0", nodes: str = "host1", start: str = T1,
                  end: str = T2, reason: str = "None") -> str:
    return (f"JobId={job_id} JobName=minik8s-0123456789abcdef UserId=u(1000) GroupId=u(1000) MCS_label=N/A "
            f"Priority=4294901759 Nice=0 Account=(null) QOS=normal JobState={state} Reason={reason} "
            f"Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode={exit_code} RunTime=00:00:01 "
            f"TimeLimit=00:05:00 TimeMin=N/A SubmitTime={T1} EligibleTime={T1} AccrueTime={T1} StartTime={start} "
            f"EndTime={end} Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval={T1} Scheduler=Main "
            f"Partition=debug AllocNode:Sid=login:4242 ReqNodeList=(null) ExcNodeList=(null) NodeList={nodes} "
            f"BatchHost={nodes} NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* "
            f"TRES=cpu=1,mem=256M,node=1,billing=1,gres/gpu=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* "
            f"MinCPUsNode=1 MinMemoryNode=256M MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 "
            f"OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) "
            f"Command=/home/u/.minik8s/gpujobs/default/matmul-01234567/job.sbatch "
            f"WorkDir=/home/u/.minik8s/gpujobs/default/matmul-01234567 StdErr=/home/u/x/job.err StdIn=/dev/null "
            f"StdOut=/home/u/x/job.out Power= TresPerNode=gres:gpu:1")


SACCT = f"""\
12|FAILED|3:0|host1|{T1}|{T2}
13|PENDING|0:0|None assigned|Unknown|Unknown
14|CANCELLED by 1000|0:15|gpu-[01-02]|{T1}|{T2}
15|COMPLETED|0:0|host1|{T1}|{T2}
"""


def jobcomp_line(job_id: str, state: str, exit_code: str = "3:0") -> str:
    return (f"JobId={job_id} UserId=u(1000) GroupId=g(1000) Name=minik8s-uid JobState={state} Partition=debug "
            f"TimeLimit=5 StartTime={T1} EndTime={T2} NodeList=host1 NodeCnt=1 ProcCnt=1 WorkDir=/home/u/x "
            f"ReservationName= Tres=cpu=1 Account= QOS= WcKey= Cluster=c SubmitTime={T1} EligibleTime={T1} "
            f"DerivedExitCode=0:0 ExitCode={exit_code}")


SHOW_CONFIG = """\
Configuration data as of 2026-12-06T14:10:05
AccountingStorageBackupHost = (null)
AccountingStorageType   = accounting_storage/none
JobAcctGatherType       = jobacct_gather/none
JobCompHost             = localhost
JobCompLoc              = /var/x/jobcomp.txt
JobCompParams           = (null)
JobCompPort             = 0
JobCompType             = jobcomp/filetxt
JobCompUser             = root
SlurmctldPort           = 6817
"""

GARBAGE = """\
slurm_load_jobs error: Invalid job id specified
No jobs in the system

12
abc|RUNNING|host1|N/A|N/A
12|RUNNING|host1|N/A
12_3|RUNNING|host1|N/A|N/A|x
JobId=abc JobState=RUNNING
JobId=17 JobName=x
"""


# ---- parsers -------------------------------------------------------------------------------------

def test_parse_squeue() -> None:
    assert parse_squeue(SQUEUE) == {
        "12": SlurmJob("12", "COMPLETED", "host1", T1, T2),
        "13": SlurmJob("13", "PENDING", "", None, None),
        "14": SlurmJob("14", "RUNNING", "gpu-[01-02]", T1, "2026-12-06T14:15:03"),
        "15": SlurmJob("15", "CANCELLED", "host1", T1, T2),
        "16": SlurmJob("16", "TIMEOUT", "", T1, T2),
    }
    jobs = parse_squeue(SQUEUE)
    assert [j.ended for j in jobs.values()] == [True, False, False, True, True]
    assert all(j.exit_code is None and j.source == "squeue" for j in jobs.values())


@pytest.mark.parametrize("parser", [parse_squeue, parse_scontrol, parse_sacct, parse_jobcomp])
def test_parsers_ignore_garbage(parser: Callable[[str], dict[str, SlurmJob]]) -> None:
    assert parser(GARBAGE) == {}
    assert parser("") == {}


def test_parse_scontrol() -> None:
    text = "\n".join([
        scontrol_line("12", "COMPLETED", "3:0"),
        scontrol_line("13", "PENDING", nodes="(null)", start="Unknown", end="Unknown", reason="Priority"),
        scontrol_line("14", "RUNNING", nodes="gpu-[01-02]", end="2026-12-06T14:15:03"),
        scontrol_line("15", "CANCELLED", "0:15"),
        scontrol_line("16", "OUT_OF_MEMORY", "0:125"),
    ]) + "\n"
    assert parse_scontrol(text) == {
        "12": SlurmJob("12", "COMPLETED", "host1", T1, T2, 3, "scontrol"),
        "13": SlurmJob("13", "PENDING", "", None, None, 0, "scontrol"),
        "14": SlurmJob("14", "RUNNING", "gpu-[01-02]", T1, "2026-12-06T14:15:03", 0, "scontrol"),
        "15": SlurmJob("15", "CANCELLED", "host1", T1, T2, 143, "scontrol"),
        "16": SlurmJob("16", "OUT_OF_MEMORY", "host1", T1, T2, 0, "scontrol"),
    }


def test_parse_sacct() -> None:
    assert parse_sacct(SACCT) == {
        "12": SlurmJob("12", "FAILED", "host1", T1, T2, 3, "sacct"),
        "13": SlurmJob("13", "PENDING", "", None, None, 0, "sacct"),
        "14": SlurmJob("14", "CANCELLED", "gpu-[01-02]", T1, T2, 143, "sacct"),
        "15": SlurmJob("15", "COMPLETED", "host1", T1, T2, 0, "sacct"),
    }


def test_parse_jobcomp_latest_line_of_a_job_wins() -> None:
    """A requeued job has several lines in the completion file: the last one is its latest end."""
    text = "\n".join([jobcomp_line("12", "NODE_FAIL", "0:0"), jobcomp_line("11", "COMPLETED", "0:0"),
                      jobcomp_line("12", "COMPLETED")]) + "\n"
    assert parse_jobcomp(text) == {
        "11": SlurmJob("11", "COMPLETED", "host1", T1, T2, 0, "jobcomp"),
        "12": SlurmJob("12", "COMPLETED", "host1", T1, T2, 3, "jobcomp"),
    }


def test_parse_jobcomp_tail_starting_mid_line() -> None:
    """The file is read from its tail: a first line cut anywhere is no job, the rest are."""
    line = jobcomp_line("12", "FAILED")
    for cut in range(1, len(line)):
        assert parse_jobcomp(line[cut:] + "\n" + jobcomp_line("13", "COMPLETED") + "\n").keys() == {"13"}, cut


@pytest.mark.parametrize(("state", "expected"), [
    ("COMPLETED", "COMPLETED"), ("CANCELLED by 0", "CANCELLED"), ("CANCELLED+", "CANCELLED"),
    ("running", "RUNNING"), ("", "UNKNOWN"),
])
def test_state_forms(state: str, expected: str) -> None:
    assert parse_sacct(f"12|{state}|0:0|host1|{T1}|{T2}")["12"].state == expected


@pytest.mark.parametrize(("code", "expected"), [("0:0", 0), ("3:0", 3), ("255:0", 255), ("0:9", 137), ("0:125", 0), ("", None),
                                                ("x:0", None)])
def test_exit_code_forms(code: str, expected: int | None) -> None:
    assert parse_sacct(f"12|FAILED|{code}|host1|{T1}|{T2}")["12"].exit_code == expected


# ---- StateQuery with a fake session --------------------------------------------------------------

class FakeSession:
    """Answers commands by their first words; records what was run and read."""

    def __init__(self, *, squeue: str = "", scontrol: str = "", sacct: CommandResult | None = None,
                 config: str = "", jobcomp: bytes | None = None) -> None:
        self.squeue, self.scontrol, self.config, self.jobcomp = squeue, scontrol, config, jobcomp
        self.sacct = sacct if sacct is not None else CommandResult(0, "", "")
        self.commands: list[str] = []
        self.reads: list[tuple[str, int]] = []

    def run(self, command: str) -> CommandResult:
        self.commands.append(command)
        if command.startswith("squeue "):
            return CommandResult(0 if self.squeue else 1, self.squeue,
                                 "" if self.squeue else "slurm_load_jobs error: Invalid job id specified\n")
        if command == "scontrol show job -o":
            return CommandResult(0, self.scontrol or "No jobs in the system\n", "")
        if command.startswith("sacct "):
            return self.sacct
        if command == "scontrol show config":
            return CommandResult(0, self.config, "")
        raise AssertionError(f"unexpected command {command!r}")

    def read_file(self, path: str, *, limit: int) -> tuple[bytes, int] | None:
        self.reads.append((path, limit))
        if self.jobcomp is None:
            return None
        return self.jobcomp[-limit:], len(self.jobcomp)

    def kinds(self) -> list[str]:
        return [" ".join(c.split()[:2]) if c.startswith("scontrol") else c.split()[0] for c in self.commands]


NO_ACCOUNTING = CommandResult(1, "", "sacct: error: Slurm accounting storage is disabled\n")


def query(session: FakeSession) -> StateQuery:
    return StateQuery(session)  # type: ignore[arg-type]


def test_one_squeue_when_it_knows_every_job() -> None:
    session = FakeSession(squeue=SQUEUE)
    q = query(session)
    found = q.query_states(["14", "12", "13"])
    assert session.commands == ["squeue -h -t all -j 12,13,14 -o '%i|%T|%N|%S|%e'"]
    assert q.queries == 1
    assert found == {i: parse_squeue(SQUEUE)[i] for i in ("12", "13", "14")}  # 15 and 16 were not asked for


@pytest.mark.parametrize(("ids", "listed"), [
    (["14", "12", "14", "12"], "12,14"),
    (["100", "9", "12"], "9,12,100"),
    (["12", "abc", "12;reboot", "$(id)", "", " 13", "13\n", "-1", "1" * 13], "12"),
])
def test_squeue_ids_are_sorted_deduplicated_and_only_numbers(ids: list[str], listed: str) -> None:
    session = FakeSession(squeue=SQUEUE)
    query(session).query_states(ids)
    assert session.commands[0] == f"squeue -h -t all -j {listed} -o '%i|%T|%N|%S|%e'"


def test_no_numeric_ids_no_command() -> None:
    session = FakeSession(squeue=SQUEUE)
    q = query(session)
    assert q.query_states(["abc", "", "1;2"]) == {} and q.query_states([]) == {}
    assert session.commands == [] and q.queries == 0


def test_squeue_lines_for_ids_not_asked_are_left_out() -> None:
    session = FakeSession(squeue=SQUEUE)
    assert set(query(session).query_states(["12"])) == {"12"}


def test_missing_ids_go_to_scontrol_first() -> None:
    session = FakeSession(squeue="12|RUNNING|host1|2026-12-06T14:10:03|N/A\n",
                          scontrol=scontrol_line("13", "COMPLETED", "0:0") + "\n" + scontrol_line("99", "FAILED"))
    q = query(session)
    found = q.query_states(["12", "13"])
    assert session.kinds() == ["squeue", "scontrol show"]
    assert (found["12"].source, found["13"].source) == ("squeue", "scontrol")
    assert found["13"].state == "COMPLETED" and "99" not in found
    assert q.queries == 2


def test_then_sacct_for_what_scontrol_lacks() -> None:
    session = FakeSession(squeue="", scontrol=scontrol_line("13", "COMPLETED"),
                          sacct=CommandResult(0, SACCT, ""))
    q = query(session)
    found = q.query_states(["12", "13", "77"])
    assert session.kinds() == ["squeue", "scontrol show", "sacct", "scontrol show"]
    assert session.commands[2] == "sacct -n -P -X -j 12,77 -o JobID,State,ExitCode,NodeList,Start,End"
    assert found["12"] == SlurmJob("12", "FAILED", "host1", T1, T2, 3, "sacct")
    assert found["13"].source == "scontrol" and "77" not in found
    assert q.has_sacct is True


def test_sacct_that_finds_everything_skips_the_jobcomp_file() -> None:
    session = FakeSession(squeue="", sacct=CommandResult(0, SACCT, ""), config=SHOW_CONFIG)
    q = query(session)
    assert set(q.query_states(["12", "15"])) == {"12", "15"}
    assert session.kinds() == ["squeue", "scontrol show", "sacct"] and session.reads == []
    assert q.queries == 3


def test_without_accounting_the_jobcomp_file_is_read_and_sacct_not_asked_again() -> None:
    jobcomp = (jobcomp_line("12", "FAILED") + "\n" + jobcomp_line("13", "COMPLETED", "0:0") + "\n").encode()
    session = FakeSession(squeue="", sacct=NO_ACCOUNTING, config=SHOW_CONFIG, jobcomp=jobcomp)
    q = query(session)
    found = q.query_states(["12"])
    assert found == {"12": SlurmJob("12", "FAILED", "host1", T1, T2, 3, "jobcomp")}
    assert session.kinds() == ["squeue", "scontrol show", "sacct", "scontrol show"]
    assert session.commands[-1] == "scontrol show config"
    assert session.reads == [("/var/x/jobcomp.txt", JOBCOMP_TAIL)]
    assert q.has_sacct is False and q.jobcomp_path == "/var/x/jobcomp.txt" and q.queries == 4

    session.commands.clear()
    found = q.query_states(["13", "12"])
    assert set(found) == {"12", "13"} and found["13"].exit_code == 0
    assert session.kinds() == ["squeue", "scontrol show"]  # no sacct, no second `show config`
    assert len(session.reads) == 2 and q.queries == 6


@pytest.mark.parametrize("config", [
    pytest.param(SHOW_CONFIG.replace("jobcomp/filetxt", "jobcomp/none"), id="jobcomp-none"),
    pytest.param(SHOW_CONFIG.replace("/var/x/jobcomp.txt", "jobcomp.txt"), id="relative-path"),
    pytest.param("", id="no-config"),
])
def test_no_usable_jobcomp_file_is_asked_for_once(config: str) -> None:
    session = FakeSession(squeue="", sacct=NO_ACCOUNTING, config=config, jobcomp=jobcomp_line("12", "FAILED").encode())
    q = query(session)
    assert q.query_states(["12"]) == {} and q.query_states(["12"]) == {}
    assert session.kinds() == ["squeue", "scontrol show", "sacct", "scontrol show", "squeue", "scontrol show"]
    assert session.reads == [] and q.jobcomp_known and q.jobcomp_path is None and q.queries == 6


def test_jobcomp_file_missing_or_unreadable_is_no_answer() -> None:
    session = FakeSession(squeue="", sacct=NO_ACCOUNTING, config=SHOW_CONFIG, jobcomp=None)
    assert query(session).query_states(["12"]) == {}

    class Unreadable(FakeSession):
        def read_file(self, path: str, *, limit: int) -> tuple[bytes, int] | None:
            raise SessionError("sftp: permission denied")

    assert query(Unreadable(squeue="", sacct=NO_ACCOUNTING, config=SHOW_CONFIG)).query_states(["12"]) == {}


def test_only_the_tail_of_a_big_jobcomp_file_is_read() -> None:
    old = (jobcomp_line("1", "COMPLETED") + "\n").encode() * (JOBCOMP_TAIL // 200 + 10)
    session = FakeSession(squeue="", sacct=NO_ACCOUNTING, config=SHOW_CONFIG,
                          jobcomp=old + (jobcomp_line("12", "FAILED") + "\n").encode())
    assert set(query(session).query_states(["12", "1"])) == {"12", "1"}
    assert session.reads == [("/var/x/jobcomp.txt", JOBCOMP_TAIL)]


def test_exit_codes_from_one_scontrol() -> None:
    session = FakeSession(scontrol="\n".join([scontrol_line("12", "FAILED", "3:0"),
                                              scontrol_line("13", "COMPLETED", "0:0")]))
    q = query(session)
    assert q.exit_codes(["12", "13", "14"]) == {"12": 3, "13": 0}
    assert session.commands == ["scontrol show job -o"] and q.queries == 1


def test_session_errors_propagate() -> None:
    class Down(FakeSession):
        def run(self, command: str) -> CommandResult:
            raise SessionError("connect to login:22: connection refused")

    with pytest.raises(SessionError):
        query(Down()).query_states(["12"])


# ---- the controller's helpers --------------------------------------------------------------------

@pytest.fixture(params=["UTC", "Europe/Berlin", "America/New_York"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The controller's machine in a time zone (Slurm prints its local time)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_slurm_time_is_utc_rfc3339(local_zone: str) -> None:
    expected = datetime.fromisoformat(T1).astimezone().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert slurm_time(T1) == expected
    if local_zone == "UTC":
        assert slurm_time(T1) == "2026-12-06T14:10:03Z"
    elif local_zone == "Europe/Berlin":
        assert slurm_time(T1) == "2026-12-06T13:10:03Z"


@pytest.mark.parametrize("text", [None, "", "N/A", "Unknown", "None", "garbage", "2026-13-01T00:00:00"])
def test_slurm_time_of_no_time_is_none(text: str | None) -> None:
    assert slurm_time(text) is None


@pytest.mark.parametrize(("pattern", "expected"), [
    ("out-%j-%x-%%.txt", "out-12-n-%.txt"),
    ("job.out", "job.out"),
    ("%u.%j", "u.12"),
    ("%%j", "%j"),
    ("trailing%", "trailing%"),
    ("%q-unknown", "%q-unknown"),
])
def test_file_name(pattern: str, expected: str) -> None:
    assert _file_name(pattern, "12", "n", "u") == expected


NOW1, NOW2 = "2026-12-06T14:00:00Z", "2026-12-06T14:05:00Z"


def test_condition_added_then_unchanged() -> None:
    status: dict[str, Any] = {}
    assert _condition(status, "ClusterReachable", True, "Connected", "ok", NOW1) is True
    assert status["conditions"] == [{"type": "ClusterReachable", "status": "True", "reason": "Connected",
                                     "message": "ok", "lastTransitionTime": NOW1}]
    before = copy.deepcopy(status)
    assert _condition(status, "ClusterReachable", True, "Connected", "ok", NOW2) is False
    assert status == before


def test_condition_message_change_keeps_the_transition_time() -> None:
    status: dict[str, Any] = {}
    _condition(status, "ClusterReachable", False, "Unreachable", "refused", NOW1)
    assert _condition(status, "ClusterReachable", False, "Unreachable", "timed out", NOW2) is True
    assert status["conditions"][0]["message"] == "timed out"
    assert status["conditions"][0]["lastTransitionTime"] == NOW1


def test_condition_status_flip_moves_the_transition_time() -> None:
    status: dict[str, Any] = {}
    _condition(status, "ClusterReachable", False, "Unreachable", "refused", NOW1)
    _condition(status, "Failed", True, "NonZeroExit", "exit 3", NOW1)
    assert _condition(status, "ClusterReachable", True, "Connected", "ok", NOW2) is True
    assert status["conditions"] == [
        {"type": "ClusterReachable", "status": "True", "reason": "Connected", "message": "ok",
         "lastTransitionTime": NOW2},
        {"type": "Failed", "status": "True", "reason": "NonZeroExit", "message": "exit 3", "lastTransitionTime": NOW1},
    ]


def test_condition_message_is_capped() -> None:
    status: dict[str, Any] = {}
    _condition(status, "Failed", True, "SubmitFailed", "x" * 5000, NOW1)
    assert len(status["conditions"][0]["message"]) == 1024
