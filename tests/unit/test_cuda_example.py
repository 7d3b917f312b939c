"""The GpuJob example program (docs/examples/gpujob/matmul.cu): it compiles with nvcc and checks itself.

nvcc comes from PyPI (scripts/install-cuda.sh, run by scripts/install.sh) and needs no GPU: here,
without a GPU or a driver, cudaGetDeviceCount fails and the program takes its CPU path; on a GPU
node it runs the kernels. Either way it compares every element with a CPU reference, and
`--corrupt` (or MATMUL_CORRUPT=1) changes one element of each result so the check must fail.

The compile (`nvcc -O2`, once for the module) took 1.9-2.5 s on the 2-core development machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "gpujob"
OK_LINE = re.compile(r"^matadd OK, matmul OK \((?P<shape>[^,]+(?:, k=\d+)?), (?P<where>gpu|cpu), checksum (?P<sum>-?\d+\.\d{4})\)$")


def _nvcc() -> str | None:
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc", "/opt/minik8s-cuda/pkgs/nvidia/cu13/bin/nvcc") if os.access(p, os.X_OK)),
        None,
    )


@pytest.fixture(scope="module")
def matmul(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example compiled as the GpuJob's build line does (`nvcc -O2 -o matmul matmul.cu`)."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed: run scripts/install-cuda.sh (scripts/install.sh runs it)")
    build = tmp_path_factory.mktemp("gpujob")
    shutil.copy(EXAMPLE / "matmul.cu", build / "matmul.cu")
    started = time.monotonic()
    done = subprocess.run([nvcc, "-O2", "-o", "matmul", "matmul.cu"], cwd=build, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"nvcc failed after {seconds:.1f} s:\n{done.stdout}{done.stderr}"
    print(f"nvcc -O2 matmul.cu: {seconds:.1f} s")
    return build / "matmul"


def _run(binary: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "MATMUL_CORRUPT"}
    full_env.update(env or {})
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, env=full_env)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output (exit {done.returncode}); stderr: {done.stderr}"
    return lines[-1]


def test_matmul_runs_and_checks(matmul: Path) -> None:
    """Exit 0 and the OK line; with no GPU it first says why it takes the CPU path."""
    done = _run(matmul)
    assert done.returncode == 0, done.stdout + done.stderr
    ok = OK_LINE.match(_last_line(done))
    assert ok, done.stdout
    assert ok["shape"] == "256x256"
    first = done.stdout.splitlines()[0]
    if ok["where"] == "cpu":
        assert first.startswith("no CUDA device (") and first.endswith("): running the CPU path"), first
    else:
        assert first.startswith("device 0: "), first


def test_matmul_sizes_and_paths_agree(matmul: Path) -> None:
    """Non-square and non-tile-multiple sizes check out, and the forced CPU path has the same checksum."""
    for size, shape in (("64", "64x64"), ("100x37", "100x37"), ("33x70x45", "33x45, k=70")):
        auto, cpu = _run(matmul, size), _run(matmul, size, "--cpu")
        assert auto.returncode == 0 and cpu.returncode == 0, auto.stdout + cpu.stdout
        auto_ok, cpu_ok = OK_LINE.match(_last_line(auto)), OK_LINE.match(_last_line(cpu))
        assert auto_ok and cpu_ok and auto_ok["shape"] == cpu_ok["shape"] == shape
        assert cpu_ok["where"] == "cpu" and auto_ok["sum"] == cpu_ok["sum"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_matmul_detects_a_wrong_result(matmul: Path, how: str) -> None:
    """One perturbed element in each result fails both checks with exit 1: the check is not a rubber stamp."""
    done = _run(matmul, "64", "--corrupt") if how == "flag" else _run(matmul, "64", env={"MATMUL_CORRUPT": "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.match(r"^matadd FAILED \(1 wrong\), matmul FAILED \(1 wrong\) \(64x64, (gpu|cpu), ", _last_line(done))
    assert "matadd: C[" in done.stdout and "matmul: C[" in done.stdout


@pytest.mark.parametrize("arg", ["0", "x", "12x", "1x2x3x4", "--nope"])
def test_matmul_rejects_bad_arguments(matmul: Path, arg: str) -> None:
    done = _run(matmul, arg)
    assert done.returncode == 2 and "usage:" in done.stderr


def test_job_yaml_shape_and_inline_copy_in_step() -> None:
    """matmul-job.yaml is the draft GpuJob; the inline copy is what make_inline.py makes of it and matmul.cu."""
    job = yaml.safe_load((EXAMPLE / "matmul-job.yaml").read_text())
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"]) == ("minik8s.io/v1", "GpuJob", "matmul")
    spec = job["spec"]
    assert spec["cluster"] == {"host": "127.0.0.1", "port": 2222, "user": "minik8s-slurm", "credentialsSecret": "slurm-login"}
    assert spec["build"] == "nvcc -O2 -o matmul matmul.cu" and spec["run"] == "./matmul 256"
    assert spec["resources"] == {"partition": "debug", "nodes": 1, "ntasks": 1, "cpusPerTask": 1, "gpus": 1,
                                 "memory": "256M", "time": "00:05:00"}
    assert (spec["output"], spec["error"]) == ("matmul.out", "matmul.err") and "sources" not in spec

    module_spec = importlib.util.spec_from_file_location("make_inline", EXAMPLE / "make_inline.py")
    assert module_spec and module_spec.loader
    make_inline = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(make_inline)
    source = (EXAMPLE / "matmul.cu").read_text()
    expected = make_inline.render((EXAMPLE / "matmul-job.yaml").read_text(), {"matmul.cu": source})
    committed = (EXAMPLE / "matmul-job-inline.yaml").read_text()
    assert committed == expected, "matmul-job-inline.yaml is out of step: run python3 docs/examples/gpujob/make_inline.py"
    inline = yaml.safe_load(committed)
    assert inline["spec"]["sources"] == {"inline": {"matmul.cu": source}}
    assert {k: v for k, v in inline["spec"].items() if k != "sources"} == spec


def test_install_cuda_script_is_a_no_op_where_nvcc_works() -> None:
    """scripts/install-cuda.sh only checks when nvcc is there (so scripts/install.sh may always run it)."""
    script = ROOT / "scripts" / "install-cuda.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH: the script would install it (about 300 MB from PyPI)")
    done = subprocess.run([str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("nvcc is already installed:"), done.stdout + done.stderr
