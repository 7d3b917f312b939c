"""The GPU job controller: submits GpuJobs to Slurm over SSH and follows them with batched polls.

Runs in the masters under the controller Lease. A job goes through these phases, each committed
(with the object's resourceVersion, so a deposed leader's write fails) before the next step:

- Pending -> Submitting: the finalizer `FINALIZER` is added, then the status records the working
  directory and the generated batch script (`describe` shows it);
- Submitting -> Submitted: unless this controller itself committed Submitting in this term (then no
  sbatch can have run yet), the cluster is first asked whether it already has the job (by its Slurm
  job name, which is the GpuJob's uid, or by the id file the job writes as it starts): a leader that
  died between `sbatch` and its commit is then adopted, never submitted again. Otherwise the sources
  and the script go up over SFTP and `sbatch --parsable` runs; the job id is committed at once;
- Submitted / Running -> Succeeded, Failed, Cancelled: the jobs of one cluster are polled together,
  ONE `squeue` per poll (`states.StateQuery`), at once when the first job of a cluster is submitted,
  within 2 s of any later submission, then 2, 4, 8 ... 30 s after the last change seen. An ended
  job's exit code, the tails of its stdout and stderr and the result files its `spec.artifacts`
  names are brought back over SFTP into the ConfigMap `output_configmap_name(job)` (owned by the job), then the status ends it and the finalizer goes.

Deleting a job that Slurm still runs cancels it first (`scancel`), then drops the finalizer; while the
login is out of reach the deletion waits, except for a job with no recorded Slurm id (its login may
never have worked), which goes after `CANCEL_TRIES_UNSUBMITTED` failed tries with a Warning event. When the
login cannot be reached (sshd down, bad credentials) a job keeps its phase, its `ClusterReachable`
condition says why, and the controller retries with the session's back-off; once the login is back
the job carries on. Credentials are read from the job's Secret at each connect and never written
anywhere.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import logging
import posixpath
import shlex
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer
from minik8s.api.kinds.gpujob import ENDED, OUTPUT_LABEL, cluster_key, output_configmap_name
from minik8s.api.ownership import is_deleting
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time

from .script import EXIT_CODE_FILE, JOB_ID_FILE, SCRIPT_NAME, batch_script, job_name, work_dir_name
from .session import Credentials, Login, SessionError, SlurmSession
from .states import RUNNING_STATES, SlurmJob, StateQuery

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ClusterKey = tuple[str, int, str, str, str]
COMPONENT = "gpujob-controller"
FINALIZER = "minik8s.io/gpujob-scancel"
CLUSTER_PREFIX = "cluster\x00"
POLL_DELAYS = (2.0, 4.0, 8.0, 16.0, 30.0)  # after the last change seen; at once after a submission
LOG_TAIL = 256 * 1024  # bytes of stdout and of stderr kept
MAX_ARTIFACT_BYTES = 256 * 1024  # one result file
MAX_ARTIFACTS_TOTAL = 512 * 1024
MAX_ARTIFACTS = 64
MISSES_BEFORE_LOST = 3  # polls in which no source knows a job before it is called lost
FOLLOWERS = 8  # threads that bring the jobs of one poll up to date
CANCEL_TRIES_UNSUBMITTED = 3  # failed scancels of a job with no recorded id before its deletion goes on


def _cluster_queue_key(key: ClusterKey) -> str:
    return CLUSTER_PREFIX + "\x00".join(str(part) for part in key)


def _parse_cluster_queue_key(key: str) -> ClusterKey:
    namespace, port, host, user, secret = key[len(CLUSTER_PREFIX):].split("\x00")
    return namespace, int(port), host, user, secret


def slurm_time(text: str | None) -> str | None:
    """Slurm's local `YYYY-MM-DDTHH:MM:SS` as the API's UTC time, or None."""
    if not text:
        return None
    try:
        return format_time(datetime.fromisoformat(text).astimezone().timestamp())
    except ValueError:
        return None


def _condition(status: Obj, type_: str, value: bool, reason: str, message: str, now: str) -> bool:
    """Set a condition in `status`; whether it changed."""
    conditions = status.setdefault("conditions", [])
    wanted = {"type": type_, "status": "True" if value else "False", "reason": reason, "message": message[:1024]}
    for condition in conditions:
        if condition.get("type") == type_:
            if all(condition.get(k) == v for k, v in wanted.items()):
                return False
            if condition.get("status") != wanted["status"]:
                condition["lastTransitionTime"] = now
            condition.update(wanted)
            return True
    conditions.append({**wanted, "lastTransitionTime": now})
    return True


def _file_name(pattern: str, job_id: str, name: str, user: str) -> str:
    """An output file name with Slurm's %j, %x, %u and %% filled in."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "%" and i + 1 < len(pattern):
            out.append({"j": job_id, "x": name, "u": user, "%": "%"}.get(pattern[i + 1], pattern[i:i + 2]))
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


class GpuJobController(Controller):
    """Runs GpuJobs on Slurm (see the module docstring)."""

    _jobs: Informer

    def __init__(self, client: ApiClient, *, poll_delays: tuple[float, ...] = POLL_DELAYS,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__(client, name=COMPONENT, workers=4)
        self.poll_delays = poll_delays
        self.wall = wall
        self._lock = threading.Lock()
        self._sessions: dict[ClusterKey, tuple[SlurmSession, StateQuery]] = {}
        self._quiet_polls: dict[ClusterKey, int] = {}  # polls since the last change seen
        self._polling: set[ClusterKey] = set()  # clusters whose next poll is queued or running
        self._fresh: set[str] = set()  # jobs this controller moved to Submitting and has not sent yet
        self._followers = ThreadPoolExecutor(FOLLOWERS, thread_name_prefix="gpujob-follow")
        self._misses: dict[str, int] = {}  # job uid -> polls in which no source knew it
        self._cancel_failures: dict[str, int] = {}  # job uid -> scancels that could not reach the login
        self._events = EventRecorder(client, component=COMPONENT)
        self.polls = 0  # batched polls made (each one squeue for every active job of a cluster)
        self.polled_jobs = 0  # jobs those polls asked about (what one squeue per job would have cost)

    def counters(self) -> dict[str, int]:
        """Polls made, the jobs they asked about, and the commands the state queries sent to slurmctld."""
        with self._lock:
            queries = sum(query.queries for _session, query in self._sessions.values())
        return {"polls": self.polls, "polled_jobs": self.polled_jobs, "slurmctld_queries": queries}

    def setup(self) -> None:
        self._jobs = self.watch("gpujobs")
        with self._lock:  # a new term has no poll queued yet, and knows of no job it prepared itself
            self._polling.clear()
            self._quiet_polls.clear()
            self._fresh.clear()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session, _query in sessions:
            session.close()

    # ---- sessions ------------------------------------------------------------------------------

    def _session(self, key: ClusterKey, job: Obj) -> tuple[SlurmSession, StateQuery]:
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                namespace, port, host, user, secret = key
                login = Login(host, port, user, (job["spec"].get("cluster") or {}).get("hostKey"))
                session = SlurmSession(login, lambda: self._credentials(namespace, secret))
                found = self._sessions[key] = (session, StateQuery(session))
            return found

    def _credentials(self, namespace: str, secret_name: str) -> Credentials:
        try:
            secret = self.client.get("secrets", secret_name, namespace=namespace)
        except errors.NotFoundError as exc:
            raise SessionError(f'the credentials Secret "{secret_name}" does not exist in {namespace}') from exc
        data = secret.get("data") or {}

        def value(key: str) -> str | None:
            text = data.get(key)
            if not isinstance(text, str):
                return None
            try:
                return base64.b64decode(text, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise SessionError(f'the credentials Secret "{secret_name}" holds an unreadable {key}') from None

        credentials = Credentials(private_key=value("ssh-privatekey"), password=value("password"))
        if not credentials.private_key and not credentials.password:
            raise SessionError(f'the credentials Secret "{secret_name}" has neither ssh-privatekey nor password')
        return credentials

    # ---- reconcile -----------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        if key.startswith(CLUSTER_PREFIX):
            return self._poll(_parse_cluster_queue_key(key))
        job = self._jobs.get(key)
        if job is None:
            return None
        phase = (job.get("status") or {}).get("phase") or "Pending"
        if is_deleting(job):
            return self._delete(job, phase)
        if phase in ENDED:
            if FINALIZER in (job["metadata"].get("finalizers") or []):
                self._drop_finalizer(job)
            return None
        if phase == "Pending":
            self._prepare(job)
            return None  # the commit comes back through the informer
        if phase == "Submitting":
            return self._submit(job)
        self._follow_cluster(cluster_key(job), soon=False)  # Submitted / Running: the cluster's poll follows it
        return None

    def _follow_cluster(self, key: ClusterKey, *, soon: bool) -> None:
        """Make sure `key`'s jobs are polled: at once when no poll is queued; with `soon` (a job was just
        submitted) the queued poll comes within the shortest delay. A job's own events never add polls:
        the cluster's one poll covers all its jobs."""
        with self._lock:
            queued = key in self._polling
            self._polling.add(key)
            if soon:
                self._quiet_polls[key] = 0
        if not queued:
            self.enqueue(_cluster_queue_key(key))
        elif soon:
            self.enqueue(_cluster_queue_key(key), after=self.poll_delays[0])

    def _write_status(self, job: Obj, status: Obj) -> Obj:
        updated = copy.deepcopy(job)
        updated["status"] = status
        return self.client.update_status(updated)

    def _prepare(self, job: Obj) -> None:
        finalizers = job["metadata"].get("finalizers") or []
        if FINALIZER not in finalizers:
            job = self.client.patch("gpujobs", job["metadata"]["name"], {"metadata": {
                "finalizers": [*finalizers, FINALIZER], "resourceVersion": job["metadata"]["resourceVersion"]}},
                namespace=job["metadata"].get("namespace"))
        status = copy.deepcopy(job.get("status") or {})
        try:
            script = batch_script(job)
        except ValueError as exc:
            status.update(phase="Failed")
            _condition(status, "Failed", True, "InvalidSpec", str(exc), format_time(self.wall()))
            self._write_status(job, status)
            return
        status.update(phase="Submitting", workDir=work_dir_name(job), script=script)
        self._write_status(job, status)
        with self._lock:  # committed by us, in this term, before any sbatch for it
            self._fresh.add(job["metadata"]["uid"])

    def _cluster_unreachable(self, job: Obj, exc: SessionError) -> Result:
        status = copy.deepcopy(job.get("status") or {})
        if _condition(status, "ClusterReachable", False, "SSHError", str(exc), format_time(self.wall())):
            self._write_status(job, status)
            self._events.record(job, reason="ClusterUnreachable", event_type="Warning", message=str(exc))
        session, _query = self._session(cluster_key(job), job)
        return Result(requeue_after=max(1.0, session.retry_in()))

    def _submit(self, job: Obj) -> Result | None:
        key = cluster_key(job)
        session, _query = self._session(key, job)
        status = copy.deepcopy(job.get("status") or {})
        work_dir = status.get("workDir") or work_dir_name(job)
        uid = job["metadata"]["uid"]
        try:
            with self._lock:  # prepared by this controller and not sent yet: no earlier sbatch to look for
                fresh = uid in self._fresh
                self._fresh.discard(uid)  # from here on a retry must look: this sbatch may run
            job_id = None if fresh else self._submitted_before(session, job, work_dir)
            adopted = job_id is not None
            if job_id is None:
                files = {name: text.encode("utf-8", "surrogatepass")
                         for name, text in ((job["spec"].get("sources") or {}).get("inline") or {}).items()}
                files[SCRIPT_NAME] = (status.get("script") or batch_script(job)).encode()
                session.put_files(work_dir, files)
                result = session.run(f"cd {shlex.quote(work_dir)} && sbatch --parsable {SCRIPT_NAME}")
                if result.code != 0 or not result.stdout.strip().split(";")[0].isdigit():
                    return self._submit_failed(job, status, result.stderr.strip() or result.stdout.strip())
                job_id = result.stdout.strip().split(";")[0]
        except SessionError as exc:
            return self._cluster_unreachable(job, exc)
        now = format_time(self.wall())
        status.update(phase="Submitted", jobId=job_id, submitTime=status.get("submitTime") or now)
        _condition(status, "ClusterReachable", True, "Connected", f"{session.login.user}@{session.login.host}", now)
        self._write_status(job, status)  # the job id, before anything else happens
        cluster = job["spec"]["cluster"]
        self._events.record(job, reason="Adopted" if adopted else "Submitted",
                            message=f"{'Found' if adopted else 'Submitted'} batch job {job_id} on "
                                    f"{cluster['user']}@{cluster['host']}:{cluster.get('port', 22)}")
        self._follow_cluster(key, soon=True)
        return None

    def _submitted_before(self, session: SlurmSession, job: Obj, work_dir: str) -> str | None:
        """The id of a job an earlier leader submitted for `job`, if the cluster knows one."""
        result = session.run(f"squeue -h -t all -n {shlex.quote(job_name(job))} -o %i")
        ids = [word for word in result.stdout.split() if word.isdigit()]
        if ids:
            return ids[0]
        found = session.read_file(posixpath.join(work_dir, JOB_ID_FILE), limit=64)
        text = found[0].decode(errors="replace").strip() if found else ""
        return text if text.isdigit() else None

    def _submit_failed(self, job: Obj, status: Obj, why: str) -> None:
        status["phase"] = "Failed"
        _condition(status, "Failed", True, "SubmitFailed", f"sbatch: {why}"[:1024], format_time(self.wall()))
        self._write_status(job, status)
        self._events.record(job, reason="FailedSubmit", event_type="Warning", message=f"sbatch: {why}"[:1024])
        return None

    # ---- polling -------------------------------------------------------------------------------

    def _active(self, key: ClusterKey) -> list[Obj]:
        return [job for job in self._jobs.list() if cluster_key(job) == key and not is_deleting(job)
                and (job.get("status") or {}).get("phase") in ("Submitted", "Running")
                and (job.get("status") or {}).get("jobId")]

    def _poll(self, key: ClusterKey) -> Result | None:
        jobs = self._active(key)
        if not jobs:
            with self._lock:
                self._quiet_polls.pop(key, None)
                self._polling.discard(key)
            return None
        session, query = self._session(key, jobs[0])
        self.polls += 1
        self.polled_jobs += len(jobs)
        try:
            states = query.query_states([job["status"]["jobId"] for job in jobs])
        except SessionError as exc:
            for job in jobs:
                try:
                    self._cluster_unreachable(job, exc)
                except errors.ConflictError:
                    pass
            return Result(requeue_after=max(1.0, session.retry_in()))
        def follow(job: Obj) -> bool:
            try:
                return self._follow(job, states.get(job["status"]["jobId"]), session, query)
            except errors.ConflictError:
                return True  # a newer copy comes through the informer: look again soon
            except SessionError as exc:
                self._cluster_unreachable(job, exc)
                return False

        # jobs that ended have their results brought back and several writes each: side by side
        changed = any(list(self._followers.map(follow, jobs)))
        with self._lock:
            quiet = 0 if changed else self._quiet_polls.get(key, 0) + 1
            self._quiet_polls[key] = quiet
        return Result(requeue_after=self.poll_delays[min(quiet, len(self.poll_delays) - 1)])

    def _follow(self, job: Obj, slurm: SlurmJob | None, session: SlurmSession, query: StateQuery) -> bool:
        """Bring `job`'s status up to what Slurm says; whether anything changed."""
        uid = job["metadata"]["uid"]
        status = copy.deepcopy(job.get("status") or {})
        now = format_time(self.wall())
        changed = _condition(status, "ClusterReachable", True, "Connected",
                             f"{session.login.user}@{session.login.host}", now)
        if slurm is None:
            misses = self._misses[uid] = self._misses.get(uid, 0) + 1
            if misses < MISSES_BEFORE_LOST:
                if changed:
                    self._write_status(job, status)
                return changed
            status["phase"] = "Failed"
            _condition(status, "Failed", True, "JobLost", f"Slurm no longer knows job {status['jobId']} "
                                                          "(squeue, scontrol, sacct and the completion file)", now)
            self._write_status(job, status)
            self._events.record(job, reason="JobLost", event_type="Warning",
                                message=f"Slurm no longer knows job {status['jobId']}")
            return True
        self._misses.pop(uid, None)
        if slurm.ended:
            self._finish(job, status, slurm, session, query)
            return True
        phase = "Running" if slurm.state in RUNNING_STATES else "Submitted"
        wanted = {"phase": phase, "slurmState": slurm.state, "nodeList": slurm.nodes or status.get("nodeList", "")}
        start = slurm_time(slurm.start) if phase == "Running" else None
        if start:
            wanted["startTime"] = start
        if any(status.get(k) != v for k, v in wanted.items()):
            became_running = phase == "Running" and status.get("phase") != "Running"
            status.update(wanted)
            self._write_status(job, status)
            if became_running:
                self._events.record(job, reason="Running", message=f"Batch job {status['jobId']} runs on "
                                                                   f"{slurm.nodes or 'its nodes'}")
            return True
        if changed:
            self._write_status(job, status)
        return changed

    def _finish(self, job: Obj, status: Obj, slurm: SlurmJob, session: SlurmSession, query: StateQuery) -> None:
        spec, job_id = job["spec"], status["jobId"]
        work_dir = status.get("workDir") or work_dir_name(job)
        exit_code = self._exit_code(session, query, work_dir, job_id, slurm)
        user = session.login.user
        stdout = session.read_file(posixpath.join(work_dir, _file_name(spec.get("output") or "job.out", job_id,
                                                                        job_name(job), user)), limit=LOG_TAIL)
        stderr = session.read_file(posixpath.join(work_dir, _file_name(spec.get("error") or "job.err", job_id,
                                                                        job_name(job), user)), limit=LOG_TAIL)
        artifacts, binary = self._artifacts(session, work_dir, spec.get("artifacts") or [])
        self._store_output(job, stdout, stderr, binary)
        now = format_time(self.wall())
        if slurm.state == "COMPLETED" and exit_code == 0:
            phase, reason, message = "Succeeded", "Completed", f"batch job {job_id} completed"
        elif slurm.state == "CANCELLED":
            phase, reason, message = "Cancelled", "Cancelled", f"batch job {job_id} was cancelled"
        else:
            phase = "Failed"
            reason = ("NonZeroExitCode" if slurm.state in ("COMPLETED", "FAILED")
                      else slurm.state.title().replace("_", ""))
            message = f"batch job {job_id} ended {slurm.state}" + (f" with exit code {exit_code}"
                                                                  if exit_code is not None else "")
        status.update(phase=phase, slurmState=slurm.state, completionTime=slurm_time(slurm.end) or now,
                      nodeList=slurm.nodes or status.get("nodeList", ""), artifacts=artifacts)
        if slurm_time(slurm.start):
            status["startTime"] = slurm_time(slurm.start)
        if exit_code is not None:
            status["exitCode"] = exit_code
        _condition(status, "Complete" if phase == "Succeeded" else "Failed", True, reason, message, now)
        written = self._write_status(job, status)
        self._events.record(job, reason=phase, message=message[0].upper() + message[1:],
                            event_type="Normal" if phase == "Succeeded" else "Warning")
        self._drop_finalizer(written)

    def _exit_code(self, session: SlurmSession, query: StateQuery, work_dir: str, job_id: str,
                   slurm: SlurmJob) -> int | None:
        found = session.read_file(posixpath.join(work_dir, EXIT_CODE_FILE), limit=16)
        text = found[0].decode(errors="replace").strip() if found else ""
        if text.isdigit():
            return int(text) & 0xFF
        if slurm.exit_code is not None:
            return slurm.exit_code
        return query.exit_codes([job_id]).get(job_id)

    def _artifacts(self, session: SlurmSession, work_dir: str, patterns: list[str]) -> tuple[list[Obj], dict[str, str]]:
        """The result files `patterns` name (listing, and their contents within the limits)."""
        if not patterns:
            return [], {}
        listed, binary, total = [], {}, 0
        for name, size in sorted(session.list_files(work_dir)):
            if not any(fnmatch.fnmatchcase(name, p) for p in patterns) or len(listed) >= MAX_ARTIFACTS:
                continue
            listed.append({"name": name, "size": size})
            key = name.replace("/", "__")
            if size <= MAX_ARTIFACT_BYTES and total + size <= MAX_ARTIFACTS_TOTAL and key not in binary:
                data = session.read_file(posixpath.join(work_dir, name), limit=MAX_ARTIFACT_BYTES)
                if data is not None:
                    binary[key] = base64.b64encode(data[0]).decode()
                    total += size
        return listed, binary

    def _store_output(self, job: Obj, stdout: tuple[bytes, int] | None, stderr: tuple[bytes, int] | None,
                      binary: dict[str, str]) -> None:
        meta = job["metadata"]
        configmap = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": output_configmap_name(meta["name"]), "namespace": meta.get("namespace", "default"),
                         "labels": {OUTPUT_LABEL: meta["name"]},
                         "ownerReferences": [{"apiVersion": "minik8s.io/v1", "kind": "GpuJob", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "data": {"stdout": stdout[0].decode(errors="replace") if stdout else "",
                     "stderr": stderr[0].decode(errors="replace") if stderr else ""},
        }
        if binary:
            configmap["binaryData"] = binary
        try:
            self.client.create(configmap)
        except errors.AlreadyExistsError:
            current = self.client.get("configmaps", configmap["metadata"]["name"], namespace=meta.get("namespace"))
            configmap["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.client.replace(configmap)

    # ---- deletion ------------------------------------------------------------------------------

    def _delete(self, job: Obj, phase: str) -> Result | None:
        if FINALIZER not in (job["metadata"].get("finalizers") or []):
            return None
        if phase in ("Submitting", "Submitted", "Running"):
            key = cluster_key(job)
            session, _query = self._session(key, job)
            job_id = (job.get("status") or {}).get("jobId")
            target = shlex.quote(job_id) if job_id else f"--name={shlex.quote(job_name(job))}"
            try:
                result = session.run(f"scancel {target}")
            except SessionError as exc:
                uid = job["metadata"]["uid"]
                tries = self._cancel_failures[uid] = self._cancel_failures.get(uid, 0) + 1
                if job_id is None and tries >= CANCEL_TRIES_UNSUBMITTED:
                    # never submitted as far as anyone recorded, and the login is out of reach: a job
                    # whose login never worked must not be undeletable
                    self._events.record(job, reason="CancelSkipped", event_type="Warning",
                                        message=f"deleted without scancel: {exc} (no batch job id was recorded)")
                    self._cancel_failures.pop(uid, None)
                    self._drop_finalizer(job)
                    return None
                self._events.record(job, reason="FailedCancel", event_type="Warning",
                                    message=f"could not cancel the batch job: {exc}")
                return Result(requeue_after=max(1.0, session.retry_in()))
            if result.code != 0 and "Invalid job id" not in result.stderr:
                self._events.record(job, reason="FailedCancel", event_type="Warning",
                                    message=f"scancel: {result.stderr.strip()[:500]}")
                return Result(requeue_after=5.0)
            self._events.record(job, reason="Cancelled", message=f"Cancelled batch job {job_id or job_name(job)}")
        self._drop_finalizer(job)
        return None

    def _drop_finalizer(self, job: Obj) -> None:
        finalizers = [f for f in job["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            self.client.patch("gpujobs", job["metadata"]["name"],
                              {"metadata": {"finalizers": finalizers or None,
                                            "resourceVersion": job["metadata"]["resourceVersion"]}},
                              namespace=job["metadata"].get("namespace"))
        except errors.NotFoundError:
            pass
