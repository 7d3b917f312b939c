"""Smoke tests of the local Slurm + sshd that the GPU-job controller will talk to.

The way a GpuJob will run: SSH in with a key, upload a script over SFTP, `sbatch` it asking for a
GPU, poll its state, download the output. Also: password login works and a wrong one does not.
"""

from __future__ import annotations

import shlex
import time
import uuid
from pathlib import Path

import paramiko
import pytest

from .slurm_cluster import SlurmCluster

JOB_SCRIPT = """#!/bin/bash
echo "hello from $(hostname -s)"
echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"
echo "SLURM_JOB_ID=${SLURM_JOB_ID-unset}"
"""
JOB_DEADLINE = 30.0


def _exec(client: paramiko.SSHClient, command: str, timeout: float = 15.0) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode()
    err = stderr.read().decode()
    return stdout.channel.recv_exit_status(), out, err


def _wait_finished(client: paramiko.SSHClient, job_id: str) -> str:
    """Poll the job's state until it is no longer pending or running; return that state."""
    deadline = time.monotonic() + JOB_DEADLINE
    state = ""
    while time.monotonic() < deadline:
        rc, out, err = _exec(client, f"squeue -h -t all -j {job_id} -o %T")
        state = out.strip()
        if rc == 0 and state and state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return state
        if rc != 0 or not state:
            # Gone from squeue (older than MinJobAge): scontrol still knows it for a while.
            rc, out, _ = _exec(client, f"scontrol show job {job_id} -o")
            if rc != 0:
                return "GONE"
            fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
            if fields.get("JobState") not in (None, "PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
                return fields["JobState"]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished after {JOB_DEADLINE}s (last state {state!r})")


def test_gpu_job_over_ssh_with_a_key(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    workdir = f"minik8s-test-{uuid.uuid4().hex[:10]}"
    client = slurm_cluster.ssh()
    try:
        sftp = client.open_sftp()
        sftp.mkdir(workdir)
        local_script = tmp_path / "job.sh"
        local_script.write_text(JOB_SCRIPT)
        sftp.put(str(local_script), f"{workdir}/job.sh")

        rc, out, err = _exec(client, f"cd {shlex.quote(workdir)} && sbatch --parsable --gres=gpu:1 "
                                     f"--partition={shlex.quote(slurm_cluster.partition)} "
                                     "--output=out-%j.txt job.sh")
        assert rc == 0, err
        job_id = out.strip().split(";")[0]
        assert job_id.isdigit(), out

        state = _wait_finished(client, job_id)
        assert state in ("COMPLETED", "GONE"), state

        local_out = tmp_path / "out.txt"
        sftp.get(f"{workdir}/out-{job_id}.txt", str(local_out))
        lines = local_out.read_text().splitlines()
        assert lines[0] == f"hello from {slurm_cluster.node}"
        assert lines[2] == f"SLURM_JOB_ID={job_id}"
        # Slurm set it from the fake GPU it allocated (gres.conf's nvidiaN files).
        gpu = lines[1].removeprefix("CUDA_VISIBLE_DEVICES=")
        assert gpu in {str(i) for i in range(slurm_cluster.gpus)}, lines[1]

        for name in sftp.listdir(workdir):
            sftp.remove(f"{workdir}/{name}")
        sftp.rmdir(workdir)
        sftp.close()
    finally:
        client.close()
    # The local client helper reaches the same controller.
    assert "Jobs submitted" in slurm_cluster.sdiag()


def test_password_login(slurm_cluster: SlurmCluster) -> None:
    client = slurm_cluster.ssh(password=True)
    try:
        # The session sees SLURM_CONF (sshd's SetEnv), so client commands find this cluster.
        rc, out, err = _exec(client, "sinfo -h -o %P")
        assert rc == 0, err
        assert out.split() == [f"{slurm_cluster.partition}*"]
    finally:
        client.close()

    wrong = paramiko.SSHClient()
    wrong.load_host_keys(str(slurm_cluster.known_hosts))
    wrong.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.AuthenticationException):
        wrong.connect(slurm_cluster.host, port=slurm_cluster.port, username=slurm_cluster.user,
                      password="not-" + slurm_cluster.password, allow_agent=False,
                      look_for_keys=False, timeout=10)
    wrong.close()
