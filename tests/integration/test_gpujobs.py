"""GpuJobs against a real local Slurm and sshd (scripts/start-slurm.sh), driven by real masters.

The example job is compiled with nvcc on the Slurm node and checks its own result; a job that exits
3 fails with its exit code and stderr; deleting a running job cancels it in Slurm; an sshd that is
down leaves a job in its phase with a condition saying why, and it ends once sshd is back; a kill -9
of the leader while jobs are submitted neither submits one twice nor loses one. The SSH key and the
password appear in no job object, event, batch script or master log.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from minik8s.api import errors
from minik8s.api.client import ApiClient

from minik8s.slurm.controller import GpuJobController
from minik8s.slurm.script import SCRIPT_NAME, batch_script, job_name, work_dir_name

from .cluster import TOKEN, Cluster, free_port, running, wait_for
from .slurm_cluster import SlurmCluster
from .workload_support import minik8s

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "gpujob"
SECRET = "slurm-login"


def login_secret(slurm: SlurmCluster, *, password: bool = False) -> dict[str, Any]:
    data = ({"password": slurm.password} if password else {"ssh-privatekey": slurm.key_path.read_text()})
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET, "namespace": "default"},
            "type": "Opaque", "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def gpujob(name: str, slurm: SlurmCluster, run: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "minik8s.io/v1", "kind": "GpuJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"cluster": {"host": slurm.host, "port": slurm.port, "user": slurm.user,
                                 "credentialsSecret": SECRET},
                     "run": run, "resources": {"partition": slurm.partition, "time": "00:05:00"}, **spec}}


def phase(client: ApiClient, name: str) -> str:
    return (client.get("gpujobs", name, namespace="default").get("status") or {}).get("phase", "")


def wait_phase(client: ApiClient, name: str, wanted: str, timeout: float = 90.0) -> dict[str, Any]:
    wait_for(lambda: phase(client, name) == wanted, timeout=timeout, interval=0.2,
             what=f"gpujob {name} to be {wanted} (it is {phase(client, name)})")
    return client.get("gpujobs", name, namespace="default")


def log(client: ApiClient, name: str, stream: str = "stdout") -> str:
    return client.request("GET", f"/apis/minik8s.io/v1/namespaces/default/gpujobs/{name}/log",
                          params={"stream": stream}) or ""


def slurm_job_names(slurm: SlurmCluster) -> list[str]:
    """The names of every job slurmctld still holds (ended ones too, within MinJobAge)."""
    return slurm.squeue("-h", "-t", "all", "-o", "%j").split()


def secrets_absent(texts: list[str], slurm: SlurmCluster) -> None:
    key_body = "".join(slurm.key_path.read_text().strip().splitlines()[1:-1])[:40]
    for text in texts:
        assert key_body not in text and slurm.password not in text


def test_matmul_example_builds_with_nvcc_runs_on_slurm_and_succeeds(cluster1: Cluster, slurm_cluster: SlurmCluster,
                                                                     tmp_path: Path) -> None:
    """Acceptance 1 and 3: `minik8s apply -f` of the example; the script asks for the GPU and the
    resources; the log shows the checked result; no secret anywhere."""
    slurm = slurm_cluster
    job = yaml.safe_load((EXAMPLE / "matmul-job-inline.yaml").read_text())
    job["spec"]["cluster"].update(host=slurm.host, port=slurm.port, user=slurm.user)
    job["spec"]["resources"]["partition"] = slurm.partition
    manifest = tmp_path / "matmul.yaml"
    manifest.write_text(yaml.safe_dump(job))
    with ApiClient(cluster1.masters[0].url, token=TOKEN, timeout=30) as client:
        client.create(login_secret(slurm))
        config = ["--kubeconfig", str(cluster1.write_kubeconfig(tmp_path / "kubeconfig"))]
        applied = subprocess.run(minik8s("apply", "-f", str(manifest), *config), capture_output=True, text=True,
                                 timeout=60)
        assert applied.returncode == 0, applied.stderr
        done = wait_phase(client, "matmul", "Succeeded", timeout=180)
        status = done["status"]
        assert status["exitCode"] == 0 and status["jobId"].isdigit() and status["nodeList"] == slurm.node
        for line in ("#SBATCH --gres=gpu:1", f"#SBATCH --partition={slurm.partition}", "#SBATCH --mem=256M",
                     "#SBATCH --time=00:05:00", "#SBATCH --cpus-per-task=1", "nvcc -O2 -o matmul matmul.cu"):
            assert line in status["script"], status["script"]
        output = log(client, "matmul")
        assert "matadd OK, matmul OK" in output, output
        described = subprocess.run(minik8s("describe", "gpujob", "matmul", *config), capture_output=True, text=True,
                                   timeout=60)
        assert described.returncode == 0 and "--gres=gpu:1" in described.stdout, described.stderr
        events = client.list("events", namespace="default")["items"]
        assert {"Submitted", "Succeeded"} <= {e["reason"] for e in events
                                               if e["involvedObject"].get("name") == "matmul"}
        secrets_absent([yaml.safe_dump(done), yaml.safe_dump(events), output, log(client, "matmul", "stderr"),
                        described.stdout, cluster1.masters[0].log_path.read_text(errors="replace")], slurm)


def test_failure_exit_code_and_cancel_on_delete(cluster1: Cluster, slurm_cluster: SlurmCluster) -> None:
    """Acceptance 2: exit 3 -> Failed with exit code 3 and its stderr; deleting a running job
    cancels it in Slurm (squeue no longer lists it as running). Password login works too."""
    slurm = slurm_cluster
    with ApiClient(cluster1.masters[0].url, token=TOKEN, timeout=30) as client:
        client.create(login_secret(slurm, password=True))
        client.create(gpujob("fails", slurm, "echo 'it went wrong' >&2; exit 3"))
        client.create(gpujob("sleeper", slurm, "sleep 300"))
        failed = wait_phase(client, "fails", "Failed")
        assert failed["status"]["exitCode"] == 3
        assert "it went wrong" in log(client, "fails", "stderr")
        running = wait_phase(client, "sleeper", "Running")
        job_id = running["status"]["jobId"]
        assert job_id in slurm.squeue("-h", "-t", "running", "-o", "%i").split()
        client.delete("gpujobs", "sleeper", namespace="default")
        wait_for(lambda: job_id not in slurm.squeue("-h", "-t", "pending,running", "-o", "%i").split(),
                 timeout=30, what="the cancelled job to leave squeue")

        def gone() -> bool:
            try:
                client.get("gpujobs", "sleeper", namespace="default")
                return False
            except errors.NotFoundError:
                return True

        wait_for(gone, timeout=30, what="the deleted job to go")
        wait_for(lambda: "CANCELLED" in slurm.squeue("-h", "-t", "all", "-j", job_id, "-o", "%T"), timeout=30,
                 what="Slurm to say the job was cancelled (it is COMPLETING for a moment)")


def test_a_job_outlives_an_sshd_outage(cluster1: Cluster, slurm_cluster: SlurmCluster) -> None:
    """Acceptance 2: sshd stopped -> the job keeps its phase and a condition says why; sshd back ->
    the job finishes."""
    slurm = slurm_cluster
    with ApiClient(cluster1.masters[0].url, token=TOKEN, timeout=30) as client:
        client.create(login_secret(slurm))
        client.create(gpujob("patient", slurm, "sleep 6; echo done"))
        wait_phase(client, "patient", "Running")
        slurm.stop_sshd()
        try:
            def unreachable() -> bool:
                status = client.get("gpujobs", "patient", namespace="default").get("status") or {}
                return any(c["type"] == "ClusterReachable" and c["status"] == "False"
                           for c in status.get("conditions") or [])

            wait_for(unreachable, timeout=60, interval=0.2, what="ClusterReachable=False")
            assert phase(client, "patient") == "Running"
        finally:
            slurm.start_again()
        done = wait_phase(client, "patient", "Succeeded", timeout=90)
        assert "done" in log(client, "patient")
        reachable = [c for c in done["status"]["conditions"] if c["type"] == "ClusterReachable"]
        assert reachable and reachable[0]["status"] == "True"


@pytest.mark.slow  # 35 s; the failover window itself is the adoption test below, in the fast suite
def test_leader_kill_submits_no_job_twice_and_loses_none(cluster3: Cluster, slurm_cluster: SlurmCluster) -> None:
    """Acceptance 2: kill -9 of the leader while jobs are being submitted and run."""
    slurm = slurm_cluster
    names = [f"burst-{i}" for i in range(8)]
    with ApiClient([m.url for m in cluster3.masters], token=TOKEN, timeout=30) as client:
        client.create(login_secret(slurm))
        for name in names:
            client.create(gpujob(name, slurm, "sleep 2; echo ok"))
        wait_for(lambda: any(phase(client, n) in ("Submitting", "Submitted") for n in names), timeout=60,
                 interval=0.05, what="a first submission")
        cluster3.kill(cluster3.leader_index())
        for name in names:
            wait_phase(client, name, "Succeeded", timeout=180)
        uids = {client.get("gpujobs", n, namespace="default")["metadata"]["uid"] for n in names}
        submitted = [n for n in slurm_job_names(slurm) if n.removeprefix("minik8s-") in uids]
        assert sorted(submitted) == sorted(f"minik8s-{u}" for u in uids)  # each once


def test_a_new_leader_adopts_the_job_a_dead_one_submitted(tmp_path: Path, slurm_cluster: SlurmCluster) -> None:
    """The failover window itself: a leader committed Submitting, ran sbatch and died before it could
    commit the job id. The next leader's controller finds the job by its name and follows it: one
    Slurm job, not two. (A master without control loops; the controller runs here.)"""
    slurm = slurm_cluster
    with running(tmp_path / "cluster", 1, extra_args=["--no-control-loops"]) as cluster, \
            ApiClient(cluster.masters[0].url, token=TOKEN, timeout=30) as client:
        client.create(login_secret(slurm))
        job = client.create(gpujob("orphan", slurm, "sleep 1; echo adopted"))
        status = {"phase": "Submitting", "workDir": work_dir_name(job), "script": batch_script(job)}
        job = client.update_status({**job, "status": status})
        ssh = slurm.ssh()  # what the dead leader did before it could commit
        try:
            sftp = ssh.open_sftp()
            parts = Path(status["workDir"]).parts
            for depth in range(1, len(parts) + 1):
                try:
                    sftp.mkdir("/".join(parts[:depth]))
                except OSError:
                    pass  # there already
            with sftp.open(f"{status['workDir']}/{SCRIPT_NAME}", "w") as f:
                f.write(status["script"])
            _in, out, _err = ssh.exec_command(f"cd {status['workDir']} && sbatch --parsable {SCRIPT_NAME}")
            first_id = out.read().decode().strip()
        finally:
            ssh.close()
        assert first_id.isdigit()
        controller = GpuJobController(client.copy())
        controller.start()
        try:
            done = wait_phase(client, "orphan", "Succeeded", timeout=60)
        finally:
            controller.stop()
        assert done["status"]["jobId"] == first_id
        assert slurm_job_names(slurm).count(job_name(job)) == 1
        assert "adopted" in log(client, "orphan")
        assert "Adopted" in {e["reason"] for e in client.list("events", namespace="default")["items"]
                             if e["involvedObject"].get("name") == "orphan"}


def test_an_unreachable_login_is_a_condition_and_such_a_job_can_be_deleted(cluster1: Cluster, tmp_path: Path) -> None:
    """No sshd on the port: the job stays Submitting with ClusterReachable=False saying why, and
    deleting it (no Slurm job id was ever recorded) does not hang on its finalizer."""
    nobody = SlurmCluster(state_dir=tmp_path, host="127.0.0.1", port=free_port(), user="nobody",
                          key_path=tmp_path / "key", password_file=tmp_path / "password",
                          known_hosts=tmp_path / "known_hosts", slurm_conf=tmp_path / "slurm.conf",
                          partition="debug", node="n", gpus=0)
    (tmp_path / "password").write_text("not-a-real-password\n")
    with ApiClient(cluster1.masters[0].url, token=TOKEN, timeout=30) as client:
        client.create(login_secret(nobody, password=True))
        client.create(gpujob("nowhere", nobody, "true"))

        def unreachable() -> str:
            status = client.get("gpujobs", "nowhere", namespace="default").get("status") or {}
            return next((c["message"] for c in status.get("conditions") or []
                         if c["type"] == "ClusterReachable" and c["status"] == "False"), "")

        message = wait_for(unreachable, timeout=30, interval=0.2, what="ClusterReachable=False")
        assert f"127.0.0.1:{nobody.port}" in message and phase(client, "nowhere") == "Submitting"
        client.delete("gpujobs", "nowhere", namespace="default")

        def gone() -> bool:
            try:
                client.get("gpujobs", "nowhere", namespace="default")
                return False
            except errors.NotFoundError:
                return True

        wait_for(gone, timeout=60, interval=0.2, what="the job to be deleted")
