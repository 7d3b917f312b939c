"""Unit tests of the minik8s.io/v1 GpuJob kind: defaults, validation (422 naming the field), the sbatch
option allow-list, the immutable spec, the 413 source limit, the table and `describe`."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from minik8s.api import objects, tables
from minik8s.api.describe import describe_lines
from minik8s.api.errors import InvalidError, RequestEntityTooLargeError
from minik8s.api.kinds import resolve
from minik8s.api.kinds.gpujob import (MAX_SOURCE_BYTES, SBATCH_OPTIONS, cluster_key, output_configmap_name,
                                      sbatch_option_problem, source_bytes)
from minik8s.api.validation import validate

Obj = dict[str, Any]
GJ = resolve("gpujobs")
NOW = datetime(2026, 12, 6, 12, 5, 0, tzinfo=timezone.utc)
CREATED_AT = "2026-12-06T12:00:00Z"
BASE: Obj = {
    "apiVersion": "minik8s.io/v1", "kind": "GpuJob", "metadata": {"name": "matmul", "namespace": "default"},
    "spec": {"cluster": {"host": "login.example.org", "user": "me", "credentialsSecret": "slurm-login"},
             "sources": {"inline": {"matmul.cu": "int main() { return 0; }\n", "lib/util.h": "#pragma once\n"}},
             "build": "nvcc -O2 -o matmul matmul.cu", "run": "./matmul 256",
             "resources": {"partition": "debug", "gpus": 1, "memory": "256M", "time": "00:05:00"}},
}


def gpujob(name: str = "matmul", **spec: Any) -> Obj:
    obj = copy.deepcopy(BASE)
    obj["metadata"]["name"] = name
    obj["spec"].update(spec)
    return obj


def with_cluster(**cluster: Any) -> Obj:
    obj = gpujob()
    obj["spec"]["cluster"].update(cluster)
    return obj


def with_resources(**resources: Any) -> Obj:
    obj = gpujob()
    obj["spec"]["resources"].update(resources)
    return obj


def created(obj: Obj) -> Obj:
    """What a create stores: identity, defaults, the initial status, the source limit."""
    return objects.prepare_create(GJ, obj, namespace="default", now=CREATED_AT, uid="0123456789abcdef",
                                  name_suffix="abcde")


def problems(obj: Obj, old: Obj | None = None) -> list[tuple[str, str]]:
    try:
        validate(GJ, obj, old=old)
    except InvalidError as err:
        assert err.code == 422
        return [(c["field"], c["message"]) for c in err.causes]
    return []


def fields(obj: Obj, old: Obj | None = None) -> list[str]:
    return [f for f, _ in problems(obj, old)]


# ---- the resource --------------------------------------------------------------------------------

def test_gpujob_resource_is_served_in_minik8s_io() -> None:
    assert (GJ.api_version, GJ.plural, GJ.kind, GJ.namespaced) == ("minik8s.io/v1", "gpujobs", "GpuJob", True)
    assert GJ.short_names == ("gj",) and GJ.subresources == ("status", "log")
    assert resolve("gj") is GJ and resolve("GpuJob") is GJ


# ---- defaults ------------------------------------------------------------------------------------

def test_a_full_job_is_valid() -> None:
    assert problems(created(gpujob(sbatchOptions=["--qos=normal", "--exclusive", "--constraint=a100|h100"],
                                   artifacts=["*.csv", "results/run-[0-9].txt"],
                                   error="err-%j.txt"))) == []


def test_gpujob_defaults() -> None:
    """output job.out, error job.err, port 22, nodes 1, ntasks 1 and phase Pending."""
    obj = created(gpujob())
    spec = obj["spec"]
    assert (spec["output"], spec["error"]) == ("job.out", "job.err")
    assert spec["cluster"]["port"] == 22
    assert (spec["resources"]["nodes"], spec["resources"]["ntasks"]) == (1, 1)
    assert obj["status"] == {"phase": "Pending"}
    assert problems(obj) == []


def test_gpujob_defaults_keep_what_is_given() -> None:
    obj = gpujob(output="o.txt", error="e.txt")
    obj["spec"]["cluster"]["port"] = 2222
    obj["spec"]["resources"].update(nodes=2, ntasks=8)
    spec = created(obj)["spec"]
    assert (spec["output"], spec["error"], spec["cluster"]["port"]) == ("o.txt", "e.txt", 2222)
    assert (spec["resources"]["nodes"], spec["resources"]["ntasks"]) == (2, 8)


def test_gpujob_without_resources_gets_nodes_and_ntasks() -> None:
    """No resources block: one is made with nodes 1 and ntasks 1 only (Slurm's defaults for the rest)."""
    obj = gpujob()
    del obj["spec"]["resources"]
    obj = created(obj)
    assert obj["spec"]["resources"] == {"nodes": 1, "ntasks": 1} and problems(obj) == []


# ---- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("obj", "field"), [
    pytest.param(with_cluster(host="login node"), "spec.cluster.host", id="host-with-space"),
    pytest.param(with_cluster(host="-oProxyCommand=x"), "spec.cluster.host", id="host-leading-dash"),
    pytest.param(with_cluster(host=None), "spec.cluster.host", id="host-missing"),
    pytest.param(with_cluster(port=0), "spec.cluster.port", id="port-0"),
    pytest.param(with_cluster(port=70000), "spec.cluster.port", id="port-70000"),
    pytest.param(with_cluster(port="22"), "spec.cluster.port", id="port-string"),
    pytest.param(with_cluster(user="Root!"), "spec.cluster.user", id="user-bad"),
    pytest.param(with_cluster(user=None), "spec.cluster.user", id="user-missing"),
    pytest.param(with_cluster(credentialsSecret=None), "spec.cluster.credentialsSecret", id="secret-missing"),
    pytest.param(with_cluster(credentialsSecret="Not_A_Name"), "spec.cluster.credentialsSecret", id="secret-bad"),
    pytest.param(with_cluster(hostKey="garbage"), "spec.cluster.hostKey", id="hostkey-garbage"),
    pytest.param(with_cluster(hostKey="ssh-dss AAAAB3NzaC1kc3MAAACBAP"), "spec.cluster.hostKey", id="hostkey-type"),
    pytest.param(gpujob(cluster=None), "spec.cluster.host", id="cluster-missing"),
    pytest.param(gpujob(cluster="login"), "spec.cluster", id="cluster-not-object"),
    pytest.param(gpujob(sources={"inline": {"../x": "a"}}), "spec.sources.inline[../x]", id="source-dotdot"),
    pytest.param(gpujob(sources={"inline": {"/abs": "a"}}), "spec.sources.inline[/abs]", id="source-absolute"),
    pytest.param(gpujob(sources={"inline": {"a/./b": "a"}}), "spec.sources.inline[a/./b]", id="source-dot-part"),
    pytest.param(gpujob(sources={"inline": {"a//b": "a"}}), "spec.sources.inline[a//b]", id="source-empty-part"),
    pytest.param(gpujob(sources={"inline": {"a b": "a"}}), "spec.sources.inline[a b]", id="source-space"),
    pytest.param(gpujob(sources={"inline": {"a": 1}}), "spec.sources.inline[a]", id="source-not-text"),
    pytest.param(gpujob(run="./a\x00b"), "spec.run", id="run-nul"),
    pytest.param(gpujob(run="./a\rb"), "spec.run", id="run-cr"),
    pytest.param(gpujob(run="./a\x1b[2J"), "spec.run", id="run-escape"),
    pytest.param(gpujob(run="./a\x7f"), "spec.run", id="run-del"),
    pytest.param(gpujob(build="make\x00"), "spec.build", id="build-nul"),
    pytest.param(gpujob(run=None), "spec.run", id="run-missing"),
    pytest.param(gpujob(run=""), "spec.run", id="run-empty"),
    pytest.param(gpujob(run=" \n\t"), "spec.run", id="run-blank"),
    pytest.param(gpujob(run="x" * (64 * 1024 + 1)), "spec.run", id="run-too-long"),
    pytest.param(gpujob(output="a/b"), "spec.output", id="output-slash"),
    pytest.param(gpujob(output=".."), "spec.output", id="output-dotdot"),
    pytest.param(gpujob(error="e rr"), "spec.error", id="error-space"),
    pytest.param(with_resources(memory="4X"), "spec.resources.memory", id="memory-4X"),
    pytest.param(with_resources(memory="0"), "spec.resources.memory", id="memory-0"),
    pytest.param(with_resources(time="abc"), "spec.resources.time", id="time-abc"),
    pytest.param(with_resources(time="1:2:3:4"), "spec.resources.time", id="time-four-parts"),
    pytest.param(with_resources(gpus=-1), "spec.resources.gpus", id="gpus-negative"),
    pytest.param(with_resources(gpus=1025), "spec.resources.gpus", id="gpus-too-many"),
    pytest.param(with_resources(nodes=0), "spec.resources.nodes", id="nodes-0"),
    pytest.param(with_resources(ntasks=0), "spec.resources.ntasks", id="ntasks-0"),
    pytest.param(with_resources(cpusPerTask=0), "spec.resources.cpusPerTask", id="cpus-0"),
    pytest.param(with_resources(partition="a;b"), "spec.resources.partition", id="partition-bad"),
    pytest.param(gpujob(sbatchOptions=["--chdir=/tmp"]), "spec.sbatchOptions[0]", id="option-not-allowed"),
    pytest.param(gpujob(sbatchOptions=["--qos=normal", "--qos=a;b"]), "spec.sbatchOptions[1]", id="option-bad-value"),
    pytest.param(gpujob(sbatchOptions=["--exclusive=1"]), "spec.sbatchOptions[0]", id="flag-with-value"),
    pytest.param(gpujob(sbatchOptions=["qos=x"]), "spec.sbatchOptions[0]", id="option-no-dashes"),
    pytest.param(gpujob(sbatchOptions=["--qos=a\n#SBATCH --chdir=/"]), "spec.sbatchOptions[0]",
                 id="option-smuggled-newline"),
    pytest.param(gpujob(sbatchOptions=[3]), "spec.sbatchOptions[0]", id="option-not-string"),
    pytest.param(gpujob(artifacts=["../etc/passwd"]), "spec.artifacts[0]", id="artifact-dotdot"),
    pytest.param(gpujob(artifacts=["/etc/passwd"]), "spec.artifacts[0]", id="artifact-absolute"),
])
def test_gpujob_validation_rejects(obj: Obj, field: str) -> None:
    """Every bad field is a 422 cause naming it."""
    found = problems(created(obj))
    assert field in [f for f, _ in found], found


def test_run_may_hold_newlines_and_tabs() -> None:
    assert problems(created(gpujob(run="set -x\n\t./matmul 256\n./matmul 512\n", build="make\nmake check"))) == []


@pytest.mark.parametrize("host", ["login", "login-1.example.org", "10.0.0.7", "[::1]", "[fe80::1]"])
def test_host_forms(host: str) -> None:
    assert problems(created(with_cluster(host=host))) == []


@pytest.mark.parametrize("key", ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                                 "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=",
                                 "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ=="])
def test_host_key_forms(key: str) -> None:
    assert problems(created(with_cluster(hostKey=key))) == []


@pytest.mark.parametrize("time", ["5", "05:00", "00:05:00", "1-00:00:00", "2-12", "UNLIMITED", "INFINITE"])
def test_time_forms(time: str) -> None:
    assert problems(created(with_resources(time=time))) == []


def test_spec_is_required() -> None:
    obj = created(gpujob())
    del obj["spec"]
    assert ("spec", "Required value") in problems(obj)


def test_status_phase_and_exit_code_are_checked() -> None:
    obj = created(gpujob())
    obj["status"] = {"phase": "Done", "exitCode": 256}
    assert fields(obj) == ["status.phase", "status.exitCode"]


def test_gpujob_name_at_most_50_characters() -> None:
    assert problems(created(gpujob("a" * 50))) == []
    assert fields(created(gpujob("a" * 51))) == ["metadata.name"]


# ---- sbatch options ------------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "words"), [
    ("--qos=normal", None),
    ("--account=proj_1", None),
    ("--exclusive", None),
    ("--nice=-5", None),
    ("--mem-per-gpu=16G", None),
    ("--hint=compute_bound", None),
    ("--comment=a run of matmul", None),
    ("--chdir=/tmp", "--chdir is not allowed"),
    ("--output=/tmp/x", "--output is not allowed"),
    ("--wrap=id", "--wrap is not allowed"),
    ("--qos=a;b", "--qos needs a value"),
    ("--qos=", "--qos needs a value"),
    ("--qos", "--qos needs a value"),
    ("--hint=fast", "--hint needs a value"),
    ("--exclusive=1", "--exclusive takes no value"),
    ("--exclusive=", "--exclusive takes no value"),
    ("qos=x", "must be `--option=value` or `--flag`"),
    ("-q x", "must be `--option=value` or `--flag`"),
    ("--qos=a\nb", "must be `--option=value` or `--flag`"),
    ("--qos=normal\n", "must be `--option=value` or `--flag`"),
    ("--Qos=x", "must be `--option=value` or `--flag`"),
])
def test_sbatch_option_problem(option: str, words: str | None) -> None:
    problem = sbatch_option_problem(option)
    if words is None:
        assert problem is None
    else:
        assert problem is not None and words in problem, problem


def test_not_allowed_option_lists_the_allowed_ones() -> None:
    problem = sbatch_option_problem("--export=ALL") or ""
    assert all(f"--{name}" in problem for name in SBATCH_OPTIONS)


@pytest.mark.parametrize("name", sorted(SBATCH_OPTIONS))
def test_no_allowed_value_can_hold_a_control_character(name: str) -> None:
    """Whatever the pattern, a newline or carriage return never passes (it would end the #SBATCH line)."""
    for bad in ("1\n", "a\rb", "\x00", "a\tb"):
        assert sbatch_option_problem(f"--{name}={bad}") is not None


# ---- the immutable spec --------------------------------------------------------------------------

def test_spec_cannot_change_on_update() -> None:
    old = created(gpujob())
    new = copy.deepcopy(old)
    new["spec"]["run"] = "./matmul 512"
    assert "spec" in fields(new, old)
    same = copy.deepcopy(old)
    same["metadata"]["labels"] = {"a": "b"}
    assert problems(same, old) == []


def test_update_without_defaulted_fields_is_not_a_change() -> None:
    """An update that leaves out what defaulting filled in is the same spec once defaulted again."""
    old = created(gpujob())
    new = objects.prepare_update(GJ, gpujob(), old, now="2026-12-06T12:01:00Z")
    assert problems(new, old) == []


# ---- the source limit ----------------------------------------------------------------------------

def test_sources_at_the_limit_are_accepted() -> None:
    text = "#" * (MAX_SOURCE_BYTES - len("a.cu"))
    obj = created(gpujob(sources={"inline": {"a.cu": text}}))
    assert source_bytes(obj) == MAX_SOURCE_BYTES and problems(obj) == []


def test_sources_over_the_limit_are_413_on_create_and_update() -> None:
    """Over 1 MiB of UTF-8 (names and texts) is a 413 naming spec.sources.inline, on create and update."""
    big = {"a.cu": "é" * (MAX_SOURCE_BYTES // 4), "b.cu": "é" * (MAX_SOURCE_BYTES // 4 + 1)}
    with pytest.raises(RequestEntityTooLargeError) as caught:
        created(gpujob(sources={"inline": big}))
    assert caught.value.code == 413
    assert "spec.sources.inline" in caught.value.message and str(MAX_SOURCE_BYTES) in caught.value.message
    old = created(gpujob())
    with pytest.raises(RequestEntityTooLargeError) as caught:
        objects.prepare_update(GJ, gpujob(sources={"inline": big}), old, now="2026-12-06T12:01:00Z")
    assert caught.value.code == 413 and "spec.sources.inline" in caught.value.message


# ---- helpers -------------------------------------------------------------------------------------

def test_output_configmap_name_and_cluster_key() -> None:
    obj = created(gpujob())
    assert output_configmap_name("matmul") == "matmul-gpujob-output"
    assert cluster_key(obj) == ("default", 22, "login.example.org", "me", "slurm-login")


# ---- table and describe --------------------------------------------------------------------------

def test_gpujob_table_columns_and_cells() -> None:
    assert [c["name"] for c in tables.columns_for(GJ)] == ["Name", "Phase", "Job ID", "Nodes", "Exit", "Age"]
    obj = created(gpujob())
    assert tables.cells_for(GJ, obj, now=NOW) == ["matmul", "Pending", "", "", None, "5m"]
    obj["status"] = {"phase": "Failed", "jobId": "42", "nodeList": "gpu-[01-02]", "exitCode": 3}
    assert tables.cells_for(GJ, obj, now=NOW) == ["matmul", "Failed", "42", "gpu-[01-02]", 3, "5m"]
    obj["status"] = {}
    assert tables.cells_for(GJ, obj, now=NOW)[1:5] == ["Pending", "", "", None]


def test_gpujob_describe_shows_status_conditions_and_script() -> None:
    obj = created(gpujob())
    obj["status"] = {
        "phase": "Failed", "jobId": "42", "slurmState": "FAILED", "nodeList": "gpu-01", "exitCode": 3,
        "workDir": ".minik8s/gpujobs/default/matmul-01234567",
        "script": "#!/bin/bash\n#SBATCH --job-name=minik8s-0123456789abcdef\n\n./matmul 256\n",
        "conditions": [{"type": "Failed", "status": "True", "reason": "NonZeroExit",
                        "message": "batch job 42 exited with 3"}],
        "artifacts": [{"name": "result.csv", "size": 12}],
    }
    lines = describe_lines(GJ, obj, [], now=NOW)
    text = "\n".join(lines)
    assert "Cluster:\tme@login.example.org:22 (credentials: Secret slurm-login)" in lines
    for line in ("Phase:\tFailed", "Slurm Job ID:\t42", "Slurm State:\tFAILED", "Nodes:\tgpu-01", "Exit Code:\t3",
                 "Working Directory:\t.minik8s/gpujobs/default/matmul-01234567", "Sources:\tlib/util.h, matmul.cu",
                 "Build:\tnvcc -O2 -o matmul matmul.cu", "Run:\t./matmul 256", "Conditions:",
                 "  Type\tStatus\tReason\tMessage", "  Failed\tTrue\tNonZeroExit\tbatch job 42 exited with 3",
                 "Artifacts:", "  result.csv\t12 bytes", "Batch Script:", "  #!/bin/bash",
                 "  #SBATCH --job-name=minik8s-0123456789abcdef", "  ./matmul 256"):
        assert line in lines, (line, text)
    resources = lines.index("Resources:\tgpus=1")
    assert lines[resources + 1:resources + 6] == ["\tmemory=256M", "\tnodes=1", "\tntasks=1", "\tpartition=debug",
                                                  "\ttime=00:05:00"]
    assert text.index("Conditions:") < text.index("Batch Script:")


def test_gpujob_describe_of_a_new_job() -> None:
    lines = describe_lines(GJ, created(gpujob(build=None)), [], now=NOW)
    assert "Phase:\tPending" in lines and "Build:\t<none>" in lines
    assert not any(line.startswith(("Slurm Job ID:", "Conditions:", "Batch Script:", "Exit Code:")) for line in lines)


def test_gpujob_describe_indents_multi_line_commands() -> None:
    """A build or run of several lines is shown one line each, indented, like the batch script."""
    lines = describe_lines(GJ, created(gpujob(build="make\nmake check", run="./a\n./b")), [], now=NOW)
    assert lines[lines.index("Build:"):lines.index("Build:") + 3] == ["Build:", "  make", "  make check"]
    assert lines[lines.index("Run:"):lines.index("Run:") + 3] == ["Run:", "  ./a", "  ./b"]


@pytest.mark.parametrize("name", ["job.sbatch", ".minik8s-exit-code", ".minik8s-job-id"])
def test_sources_may_not_take_the_controllers_file_names(name: str) -> None:
    assert fields(gpujob(sources={"inline": {name: "x"}})) == [f"spec.sources.inline[{name}]"]


@pytest.mark.parametrize(("output", "valid"), [("out-%j.txt", True), ("%x-%u.log", True), ("100%%.txt", True),
                                               ("out-%N.txt", False), ("out-%4j.txt", False), ("out-%", False)])
def test_output_names_take_only_the_patterns_the_controller_reads_back(output: str, valid: bool) -> None:
    assert fields(gpujob(output=output)) == ([] if valid else ["spec.output"])
