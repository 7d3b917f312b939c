"""Unit tests of the GpuJob batch script (minik8s.slurm.script): its #SBATCH lines, and what the
script does when bash runs it as Slurm would (build failure, run failure, success)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from minik8s.slurm.script import EXIT_CODE_FILE, JOB_ID_FILE, SCRIPT_NAME, batch_script, job_name, work_dir_name

Obj = dict[str, Any]
JOB: Obj = {
    "apiVersion": "minik8s.io/v1", "kind": "GpuJob",
    "metadata": {"name": "matmul", "namespace": "gpu", "uid": "0123456789abcdef"},
    "spec": {"cluster": {"host": "login", "port": 22, "user": "me", "credentialsSecret": "slurm-login"},
             "build": "nvcc -O2 -o matmul matmul.cu", "run": "./matmul 256", "output": "matmul.out",
             "error": "matmul-%j.err",
             "resources": {"partition": "debug", "nodes": 1, "ntasks": 2, "ntasksPerNode": 2, "cpusPerTask": 4,
                           "gpus": 2, "memory": "4G", "time": "00:05:00"},
             "sbatchOptions": ["--qos=normal", "--exclusive", "--constraint=a100|h100"]},
}

FULL_SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=minik8s-0123456789abcdef
#SBATCH --output=matmul.out
#SBATCH --error=matmul-%j.err
#SBATCH --partition=debug
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=00:05:00
#SBATCH --gres=gpu:2
#SBATCH --qos=normal
#SBATCH --exclusive
#SBATCH --constraint=a100|h100

cd "$SLURM_SUBMIT_DIR" || exit 1
echo "$SLURM_JOB_ID" > .minik8s-job-id
( :
nvcc -O2 -o matmul matmul.cu
)
status=$?
if [ "$status" -ne 0 ]; then
  echo "minik8s: the build failed with exit code $status" >&2
  echo "$status" > .minik8s-exit-code
  exit "$status"
fi
( :
./matmul 256
)
status=$?
echo "$status" > .minik8s-exit-code
exit "$status"
"""


def job(**spec: Any) -> Obj:
    obj = copy.deepcopy(JOB)
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


def resources(**values: Any) -> Obj:
    obj = job()
    obj["spec"]["resources"].update(values)
    return obj


def sbatch_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


# ---- names ---------------------------------------------------------------------------------------

def test_names() -> None:
    assert SCRIPT_NAME == "job.sbatch"
    assert job_name(JOB) == "minik8s-0123456789abcdef"
    assert work_dir_name(JOB) == ".minik8s/gpujobs/gpu/matmul-01234567"


# ---- the text ------------------------------------------------------------------------------------

def test_full_spec_script_text() -> None:
    assert batch_script(JOB) == FULL_SCRIPT


def test_minimal_spec_uses_default_files_and_no_build() -> None:
    obj = job(build=None, output=None, error=None, resources=None, sbatchOptions=None)
    assert batch_script(obj) == (
        "#!/bin/bash\n#SBATCH --job-name=minik8s-0123456789abcdef\n#SBATCH --output=job.out\n"
        "#SBATCH --error=job.err\n\ncd \"$SLURM_SUBMIT_DIR\" || exit 1\n"
        "echo \"$SLURM_JOB_ID\" > .minik8s-job-id\n( :\n./matmul 256\n)\nstatus=$?\n"
        "echo \"$status\" > .minik8s-exit-code\nexit \"$status\"\n")


@pytest.mark.parametrize(("gpus", "gres"), [
    (0, []), (None, []), (1, ["#SBATCH --gres=gpu:1"]), (8, ["#SBATCH --gres=gpu:8"]),
])
def test_gres_line_from_gpus(gpus: int | None, gres: list[str]) -> None:
    lines = sbatch_lines(batch_script(resources(gpus=gpus)))
    assert [line for line in lines if "--gres" in line] == gres


def test_only_given_resources_become_lines() -> None:
    obj = job(resources={"nodes": 2, "time": "1-00:00:00"})
    assert sbatch_lines(batch_script(obj))[3:] == ["#SBATCH --nodes=2", "#SBATCH --time=1-00:00:00",
                                                   "#SBATCH --qos=normal", "#SBATCH --exclusive",
                                                   "#SBATCH --constraint=a100|h100"]


def test_options_are_appended_verbatim_in_order_after_the_resources() -> None:
    options = ["--account=proj_1", "--comment=a run of matmul", "--nice=-5", "--requeue"]
    lines = sbatch_lines(batch_script(job(sbatchOptions=options)))
    assert lines[-4:] == [f"#SBATCH {option}" for option in options]
    assert lines[-5] == "#SBATCH --gres=gpu:2"


def test_every_sbatch_line_comes_before_the_first_command() -> None:
    """sbatch stops reading #SBATCH lines at the first command: all of them lead the script."""
    lines = batch_script(JOB).splitlines()
    first_command = lines.index("")
    assert all(line.startswith("#") for line in lines[:first_command])
    assert not any(line.startswith("#SBATCH") for line in lines[first_command:])


@pytest.mark.parametrize("obj", [
    pytest.param(job(sbatchOptions=["--qos=a\n#SBATCH --chdir=/"]), id="option-newline"),
    pytest.param(job(sbatchOptions=["--chdir=/tmp"]), id="option-not-allowed"),
    pytest.param(job(sbatchOptions=["--qos=a;b"]), id="option-bad-value"),
    pytest.param(resources(partition="debug\n#SBATCH --chdir=/"), id="partition-newline"),
    pytest.param(resources(time="5\r"), id="time-carriage-return"),
    pytest.param(job(output="job.out\n#SBATCH --chdir=/"), id="output-newline"),
    pytest.param(job(error="job.err\x00"), id="error-nul"),
])
def test_a_value_that_would_end_its_line_raises(obj: Obj) -> None:
    """The kind rejects these; given one directly, batch_script raises rather than write it."""
    with pytest.raises(ValueError):
        batch_script(obj)


# ---- running it ----------------------------------------------------------------------------------

BASH = shutil.which("bash")


def run_script(tmp_path: Path, build: str | None, run: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The script of a job with `build` and `run`, run by bash as Slurm would (submit dir, job id set)."""
    work = tmp_path / "work"
    work.mkdir()
    script = work / SCRIPT_NAME
    script.write_text(batch_script(job(build=build, run=run)))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SLURM_SUBMIT_DIR": str(work), "SLURM_JOB_ID": "4242"}
    done = subprocess.run([BASH, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    return done, work


pytestmark_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


@pytestmark_bash
def test_build_failure_writes_its_exit_code_and_skips_the_run(tmp_path: Path) -> None:
    done, work = run_script(tmp_path, "echo building; exit 3", "touch ran; exit 0")
    assert done.returncode == 3
    assert (work / EXIT_CODE_FILE).read_text() == "3\n"
    assert (work / JOB_ID_FILE).read_text() == "4242\n"
    assert not (work / "ran").exists()
    assert "the build failed with exit code 3" in done.stderr and "building" in done.stdout


@pytestmark_bash
def test_run_failure_writes_its_exit_code(tmp_path: Path) -> None:
    done, work = run_script(tmp_path, "touch built", "touch ran\nexit 5")
    assert done.returncode == 5
    assert (work / EXIT_CODE_FILE).read_text() == "5\n"
    assert (work / "built").exists() and (work / "ran").exists()


@pytestmark_bash
def test_success_writes_0_and_the_job_id(tmp_path: Path) -> None:
    done, work = run_script(tmp_path, "echo int > prog", "cat prog\necho done > result.txt")
    assert done.returncode == 0, done.stderr
    assert (work / EXIT_CODE_FILE).read_text() == "0\n"
    assert (work / JOB_ID_FILE).read_text() == "4242\n"
    assert (work / "result.txt").read_text() == "done\n" and done.stdout == "int\n"


@pytestmark_bash
def test_no_build_runs_the_run_in_the_submit_dir(tmp_path: Path) -> None:
    """The script goes to SLURM_SUBMIT_DIR first, whatever directory it starts in."""
    done, work = run_script(tmp_path, None, "pwd")
    assert done.returncode == 0 and done.stdout.strip() == str(work)
    assert (work / EXIT_CODE_FILE).read_text() == "0\n"


@pytestmark_bash
def test_a_cd_or_exit_in_the_commands_does_not_move_the_exit_code_file(tmp_path: Path) -> None:
    """Build and run are subshells: a `cd` there leaves the exit code file in the working directory."""
    (tmp_path / "elsewhere").mkdir()
    done, work = run_script(tmp_path, f"cd {tmp_path / 'elsewhere'}", f"cd {tmp_path / 'elsewhere'}\nexit 7")
    assert done.returncode == 7
    assert (work / EXIT_CODE_FILE).read_text() == "7\n"
    assert not (tmp_path / "elsewhere" / EXIT_CODE_FILE).exists()


@pytestmark_bash
def test_multi_line_commands_with_a_trailing_comment(tmp_path: Path) -> None:
    done, work = run_script(tmp_path, "true # build", "echo a  # first\necho b # last")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a\nb\n"


@pytestmark_bash
def test_commands_of_only_comments_are_not_a_syntax_error(tmp_path: Path) -> None:
    """`# nothing to build` must not leave an empty `( )`, which bash refuses before running anything."""
    done, work = run_script(tmp_path, "# nothing to build", "# nothing to run")
    assert done.returncode == 0, done.stderr
    assert (work / EXIT_CODE_FILE).read_text() == "0\n"
