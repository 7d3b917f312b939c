"""Functions end to end on `minik8s up --masters 3 --nodes 3` (process runtime).

A Function starts at zero instances; 50 concurrent calls spread over the three masters wake it and
all get the right answer (the router holds them until an instance answers its probe). Load scales
it out to what the KPA rule predicts (bounded by maxScale), and it goes back to zero after its
idle time, without a failed call on the way. A function
that raises answers 500 with the error and its traceback, which the instance's log shows too. A
call of an unknown function is a 404; deleting a Function removes its Deployment and ConfigMap.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig

from .cluster import wait_for
from .workload_support import NAMESPACE, Up3, minik8s

SOURCE = '''
import os, time

def handle(params):
    time.sleep(params.get("sleep", 0))
    return {"double": params["n"] * 2, "pid": os.getpid()}

def broken(params):
    raise ValueError(f"cannot take {params!r}")
'''


LEASE_OF_CONTROLLERS = ("leases.coordination.k8s.io", "minik8s-controller-manager", "kube-system")


def function(name: str, handler: str = "main:handle", **spec: object) -> dict[str, object]:
    return {"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"source": {"inline": SOURCE}, "handler": handler, **spec}}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up3]:
    cluster = Up3(tmp_path_factory.mktemp("functions") / "data")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def per_master(up: Up3) -> Iterator[list[ApiClient]]:
    """One client per master (the calls are spread over all three)."""
    config = load_kubeconfig(up.root / "kubeconfig")
    clients = [ApiClient(server, token=config.token, ca_file=config.ca_file, timeout=120) for server in config.servers]
    yield clients
    for client in clients:
        client.close()


def replicas(up: Up3, name: str) -> int:
    return up.client.get("deployments", f"fn-{name}", namespace=NAMESPACE)["spec"]["replicas"]


def test_a_function_at_zero_answers_50_concurrent_calls(up: Up3, per_master: list[ApiClient]) -> None:
    up.client.create(function("double"))
    wait_for(lambda: (up.client.get("functions", "double", namespace=NAMESPACE).get("status") or {})
             .get("desiredInstances") == 0, timeout=30, what="the function's Deployment at zero")
    assert replicas(up, "double") == 0

    def call(i: int) -> object:
        return per_master[i % 3].invoke("functions", "double", {"n": i, "sleep": 0.2}, namespace=NAMESPACE)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(call, range(50)))
    assert [a["double"] for a in answers] == [2 * i for i in range(50)]  # type: ignore[index]
    assert replicas(up, "double") >= 1
    status = up.client.get("functions", "double", namespace=NAMESPACE)["status"]
    assert status["url"] == f"/apis/minik8s.io/v1/namespaces/{NAMESPACE}/functions/double/invoke"


def test_a_function_that_raises_answers_500_with_its_traceback(up: Up3) -> None:
    up.client.create(function("broken", handler="main:broken"))
    with pytest.raises(errors.ApiError) as raised:
        up.client.invoke("functions", "broken", {"x": 1}, namespace=NAMESPACE)
    assert raised.value.code == 500
    assert "ValueError" in raised.value.message and "cannot take {'x': 1}" in raised.value.message
    assert "Traceback" in raised.value.message

    def logged() -> bool:
        pods = up.client.list("pods", namespace=NAMESPACE, label_selector="minik8s.io/function=broken")["items"]
        return any("cannot take" in up.client.log(p["metadata"]["name"], namespace=NAMESPACE) for p in pods)

    wait_for(logged, timeout=20, what="the traceback in the instance's log")


def test_unknown_function_is_404_and_delete_removes_what_it_owned(up: Up3) -> None:
    with pytest.raises(errors.NotFoundError):
        up.client.invoke("functions", "nothing-here", {}, namespace=NAMESPACE)
    up.client.create(function("short-lived"))
    wait_for(lambda: _exists(up, "deployments", "fn-short-lived") and _exists(up, "configmaps", "fn-short-lived"),
             timeout=30, what="the Deployment and ConfigMap")
    up.client.delete("functions", "short-lived", namespace=NAMESPACE)
    wait_for(lambda: not (_exists(up, "deployments", "fn-short-lived") or _exists(up, "configmaps", "fn-short-lived")),
             timeout=30, what="the garbage collector to remove them")


def _exists(up: Up3, resource: str, name: str) -> bool:
    try:
        up.client.get(resource, name, namespace=NAMESPACE)
        return True
    except errors.NotFoundError:
        return False



@pytest.mark.slow  # about 40 s: ./scripts/test.sh --slow
def test_load_scales_out_by_the_kpa_rule_then_back_to_zero_without_a_failed_call(
        up: Up3, per_master: list[ApiClient]) -> None:
    """8 callers of a 0.3 s handler with containerConcurrency 1 (target 0.7 per instance): the KPA asks
    ceil(8 / 0.7) = 12 instances, bounded by maxScale 3; one caller while it scales down; then idle:
    zero after idleSeconds. No call fails in any phase."""
    up.client.create(function("busy", containerConcurrency=1,
                              scale={"maxScale": 3, "idleSeconds": 3, "stableWindowSeconds": 6}))
    wait_for(lambda: _exists(up, "deployments", "fn-busy"), timeout=30, what="the function's Deployment")
    failures: list[str] = []
    answered = [0]
    most = [0]
    lock = threading.Lock()

    def load(callers: int, seconds: float) -> None:
        stop = time.monotonic() + seconds

        def caller(index: int) -> None:
            n = 0
            while time.monotonic() < stop and n < 1000:
                try:
                    got = per_master[index % 3].invoke("functions", "busy", {"n": n, "sleep": 0.3},
                                                        namespace=NAMESPACE)
                    assert got["double"] == 2 * n  # type: ignore[index]
                    with lock:
                        answered[0] += 1
                except Exception as exc:  # every failure is reported below
                    with lock:
                        failures.append(repr(exc))
                n += 1

        with ThreadPoolExecutor(callers) as pool:
            pool.map(caller, range(callers))

    def sample() -> None:
        while not done.is_set():
            most[0] = max(most[0], replicas(up, "busy"))
            done.wait(0.5)

    done = threading.Event()
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        load(8, 12)
        assert most[0] == 3, f"scaled to at most {most[0]} of the 3 the rule allows"
        load(1, 8)
    finally:
        done.set()
        sampler.join()
    assert failures == [] and answered[0] > 50
    wait_for(lambda: replicas(up, "busy") == 0, timeout=60, what="scale to zero after the idle time")


def test_an_update_rolls_the_instances_without_a_failed_call(up: Up3, per_master: list[ApiClient]) -> None:
    """Calls keep coming while the code changes: every call answers, from the old code or the new."""
    up.client.create(function("versioned", handler="main:handle", scale={"minScale": 1}))
    wait_for(lambda: (up.client.get("functions", "versioned", namespace=NAMESPACE).get("status") or {})
             .get("readyInstances") == 1, timeout=60, what="one ready instance")
    failures: list[str] = []
    versions: list[object] = []
    stop = threading.Event()

    def caller(index: int) -> None:
        n = 0
        while not stop.is_set() and n < 2000:
            try:
                answer = per_master[index % 3].invoke("functions", "versioned", {"n": n}, namespace=NAMESPACE)
                versions.append(answer.get("version"))  # type: ignore[union-attr]
            except Exception as exc:  # every failure is reported below
                failures.append(repr(exc))
            n += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)  # calls flowing against the old code first
        new = SOURCE.replace('return {"double"', 'return {"version": 2, "double"')
        up.client.patch("functions", "versioned", {"spec": {"source": {"inline": new}}}, namespace=NAMESPACE)
        wait_for(lambda: versions[-20:].count(2) == 20, timeout=60, what="every call answered by the new code")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [] and None in versions and 2 in versions


def test_the_function_verbs_create_invoke_list_log_and_delete(up: Up3, tmp_path: Path) -> None:
    config = ["--kubeconfig", str(up.root / "kubeconfig")]

    def run(*args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(minik8s("function", *args, *config), capture_output=True, text=True, timeout=120,
                              input=stdin)
        assert (proc.returncode == 0) == ok, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    module = tmp_path / "hello.py"
    module.write_text('def handle(params):\n    print("called with", params)\n    return {"hello": params["who"]}\n')
    assert run("create", "hello", "--file", str(module), "--handler", "hello:handle").stdout.strip() == \
        "function.minik8s.io/hello created"
    called = run("invoke", "hello", "--data", '{"who": "world"}')
    assert json.loads(called.stdout) == {"hello": "world"} and called.stderr.strip().endswith("ms)")
    assert json.loads(run("invoke", "hello", "--data", "-", stdin='{"who": "stdin"}').stdout) == {"hello": "stdin"}
    up.client.create(function("cli-broken", handler="main:broken"))
    assert "cannot take 'text'" in run("invoke", "cli-broken", "--data", '"text"', ok=False).stderr  # a JSON string
    listed = run("get", "hello").stdout.splitlines()
    assert listed[0].split() == ["NAME", "READY", "MIN", "MAX", "CONCURRENCY", "AGE"] and listed[1].startswith("hello ")
    wait_for(lambda: "called with {'who': 'world'}" in run("logs", "hello").stdout, timeout=20,
             what="the handler's print in the instances' logs")
    assert run("invoke", "hello", "--data", "{not json", ok=False).stderr.startswith("error: --data is not JSON")
    assert run("invoke", "nope", ok=False).stderr.strip() == \
        'Error from server (NotFound): functions.minik8s.io "nope" not found'
    assert run("create", "bad", "--file", str(tmp_path / "missing.txt"), ok=False).stderr.startswith("error: ")
    run("delete", "hello")
    assert run("invoke", "hello", ok=False).returncode == 1


def test_a_deployment_of_the_same_name_is_never_taken_over(up: Up3) -> None:
    """A Deployment `fn-NAME` that is not the function's stays as it is; the function says why it is not Ready."""
    container = {"name": "c", "image": "busybox:1", "command": ["sleep", "9"]}
    own = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fn-squatted", "namespace": NAMESPACE},
           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "squat"}},
                    "template": {"metadata": {"labels": {"app": "squat"}}, "spec": {"containers": [container]}}}}
    up.client.create(own)
    up.client.create(function("squatted"))

    def reason() -> str | None:
        conditions = (up.client.get("functions", "squatted", namespace=NAMESPACE).get("status") or {}).get("conditions")
        return next((c.get("reason") for c in conditions or [] if c.get("type") == "Ready"), None)

    wait_for(lambda: reason() == "NameTaken", timeout=30, what="the Ready condition to say the name is taken")
    kept = up.client.get("deployments", "fn-squatted", namespace=NAMESPACE)
    assert "ownerReferences" not in kept["metadata"]
    assert kept["spec"]["template"]["metadata"]["labels"] == {"app": "squat"}


# ---- workflows ---------------------------------------------------------------------------------

WORKFLOW_SOURCE = '''
def inc(params):
    return {**params, "n": params["n"] + 1}

def square(params):
    return params["n"] ** 2

def refuse(params):
    raise ValueError("refused")

def record(params):
    import time
    with open(params["file"], "a") as f:
        f.write(params["step"] + "\\n")
    time.sleep(params.get("sleep", 0))
    return params

def call_other(params):
    import json, urllib.request
    url = "http://169.254.20.10:8090/invoke/%s/%s" % (params["namespace"], params["function"])
    request = urllib.request.Request(url, data=json.dumps(params["params"]).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return {"answer": json.load(answer)}
'''

PIPELINE = {
    "StartAt": "Inc",
    "States": {
        "Inc": {"Type": "Task", "Resource": "function:wf-inc", "Next": "Small?"},
        "Small?": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Inc"}],
                   "Default": "Fan"},
        "Fan": {"Type": "Parallel", "ResultPath": "$.parallel", "Next": "Each", "Branches": [
            {"StartAt": "Square", "States": {"Square": {"Type": "Task", "Resource": "function:wf-square",
                                                        "End": True}}},
            {"StartAt": "Side", "States": {"Side": {"Type": "Pass", "Result": "side", "End": True}}}]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.mapped",
                 "Next": "Refuse",
                 "ItemProcessor": {"StartAt": "IncItem", "States": {
                     "IncItem": {"Type": "Task", "Resource": "function:wf-inc", "End": True}}}},
        "Refuse": {"Type": "Task", "Resource": "function:wf-refuse", "Next": "Done",
                   "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                   "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.caught", "Next": "Done"}]},
        "Done": {"Type": "Succeed"},
    },
}


def workflow_function(name: str, handler: str) -> dict[str, object]:
    return {"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"source": {"inline": WORKFLOW_SOURCE}, "handler": handler}}


def run_workflow(up: Up3, workflow: str, input_text: str) -> dict[str, object]:
    created = up.client.create({"apiVersion": "minik8s.io/v1", "kind": "WorkflowRun",
                                "metadata": {"generateName": f"{workflow}-", "namespace": NAMESPACE},
                                "spec": {"workflowRef": {"name": workflow}, "input": input_text}})
    name = created["metadata"]["name"]
    return wait_for(lambda: (run := up.client.get("workflowruns", name, namespace=NAMESPACE))["status"].get("phase")
                    in ("Succeeded", "Failed") and run, timeout=90, what=f"workflow run {name} to end")


def test_a_workflow_with_a_loop_a_choice_parallel_map_and_catch_runs_to_its_output(up: Up3) -> None:
    for name, handler in (("wf-inc", "main:inc"), ("wf-square", "main:square"), ("wf-refuse", "main:refuse")):
        up.client.create(workflow_function(name, handler))
    up.client.create({"apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": {"name": "pipeline",
                                                                                       "namespace": NAMESPACE},
                      "spec": {"definition": PIPELINE}})
    run = run_workflow(up, "pipeline", '{"n": 0, "items": [{"n": 10}, {"n": 20}]}')
    status = run["status"]  # type: ignore[index]
    assert status["phase"] == "Succeeded", status
    output = json.loads(status["output"])
    assert output["n"] == 3 and output["parallel"] == [9, "side"]
    assert output["mapped"] == [{"n": 11}, {"n": 21}]
    assert output["caught"]["Error"] == "ValueError" and "refused" in output["caught"]["Cause"]
    events = [h["event"] for h in status["history"]]
    assert "RetryScheduled" in events and "Caught" in events


def test_an_endless_loop_stops_at_the_step_limit_and_bad_asl_is_422(up: Up3) -> None:
    loop = {"StartAt": "Again", "States": {"Again": {"Type": "Pass", "Next": "Again"}}}
    with pytest.raises(errors.InvalidError) as raised:  # no terminal state: invalid
        up.client.create({"apiVersion": "minik8s.io/v1", "kind": "Workflow",
                          "metadata": {"name": "endless", "namespace": NAMESPACE}, "spec": {"definition": loop}})
    assert "spec.definition" in str(raised.value.causes)
    loop["States"]["Stop?"] = {"Type": "Choice", "Choices": [{"Variable": "$.stop", "BooleanEquals": True,
                                                               "Next": "End"}], "Default": "Again"}
    loop["States"]["End"] = {"Type": "Succeed"}
    loop["States"]["Again"] = {"Type": "Pass", "Next": "Stop?"}
    up.client.create({"apiVersion": "minik8s.io/v1", "kind": "Workflow",
                      "metadata": {"name": "endless", "namespace": NAMESPACE},
                      "spec": {"definition": loop, "maxSteps": 25}})
    status = run_workflow(up, "endless", '{"stop": false}')["status"]  # type: ignore[index]
    assert status["phase"] == "Failed" and status["error"] == "minik8s.StepLimitExceeded", status


def test_the_workflow_verbs_create_run_get_and_describe(up: Up3, tmp_path: Path) -> None:
    config = ["--kubeconfig", str(up.root / "kubeconfig")]

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(minik8s("workflow", *args, *config), capture_output=True, text=True, timeout=120)
        assert (proc.returncode == 0) == ok, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    machine = tmp_path / "twice.yaml"
    machine.write_text("StartAt: Twice\nStates:\n  Twice:\n    Type: Task\n    Resource: function:wf-inc\n"
                       "    Next: Again\n  Again:\n    Type: Task\n    Resource: function:wf-inc\n    End: true\n")
    assert run("create", "twice", "--file", str(machine)).stdout.strip() == "workflow.minik8s.io/twice created"
    done = run("run", "twice", "--input", '{"n": 40}')
    assert json.loads(done.stdout) == {"n": 42} and "workflowrun.minik8s.io/twice-" in done.stderr
    run_name = done.stderr.split("workflowrun.minik8s.io/")[1].split()[0]
    described = run("describe", run_name).stdout
    assert "Phase:      Succeeded" in described and "StateEntered" in described
    assert run("get").stdout.splitlines()[0].split() == ["NAME", "STATES", "START", "AGE"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"StartAt": "Nowhere", "States": {"A": {"Type": "Succeed"}}}')
    assert "Nowhere" in run("create", "bad", "--file", str(bad), ok=False).stderr


def test_a_call_sent_again_with_its_call_id_runs_once(up: Up3, per_master: list[ApiClient], tmp_path: Path) -> None:
    """The same call id through two masters at once, then through a third: one run, one answer; another
    id runs again."""
    up.client.create(workflow_function("once", "main:record"))
    calls = tmp_path / "calls"
    params = {"file": str(calls), "step": "ran", "sleep": 1}

    def call(client: ApiClient, call_id: str = "test/once-1") -> object:
        return client.invoke("functions", "once", params, namespace=NAMESPACE, call_id=call_id)

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(call, per_master[:2])) == [params, params]
    assert call(per_master[2]) == params
    assert calls.read_text().splitlines() == ["ran"]
    assert call(per_master[0], "test/once-2") == params
    assert calls.read_text().splitlines() == ["ran", "ran"]
    with pytest.raises(errors.BadRequestError, match="X-Minik8s-Call-Id"):
        call(per_master[0], "not a valid id")


def test_a_function_calls_another_through_the_node_local_gateway(up: Up3) -> None:
    """A pod (here an instance of one function) calls a function at the node-local address, no token."""
    up.client.create(workflow_function("caller", "main:call_other"))
    up.client.create(workflow_function("callee", "main:square"))
    answer = up.client.invoke("functions", "caller", {"namespace": NAMESPACE, "function": "callee",
                                                      "params": {"n": 7}}, namespace=NAMESPACE)
    assert answer == {"answer": 49}


# ---- zip sources and the example application ----------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_README = ROOT / "docs" / "examples" / "README.md"


def cli(up: Up3, *args: str, ok: bool = True, stdin: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`minik8s ARGS` with the cluster's kubeconfig (from KUBECONFIG, as a user of `minik8s up` has it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIK8S_")}
    env["KUBECONFIG"] = str(up.root / "kubeconfig")
    proc = subprocess.run(minik8s(*args), capture_output=True, text=True, timeout=180, input=stdin, cwd=cwd, env=env)
    assert (proc.returncode == 0) == ok, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_a_function_from_a_directory_of_two_modules_then_a_zip_then_inline(up: Up3, tmp_path: Path) -> None:
    """--file DIR: the CLI zips it (no __pycache__), the instances unpack it and one module imports the
    other; an update from a .zip rolls the instances to the new code; a hostile archive is a one-line
    422; an update from a .py file replaces the archive by inline source."""
    code = tmp_path / "code"
    (code / "shapes").mkdir(parents=True)
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "junk.pyc").write_bytes(b"not python")
    (code / "shapes" / "__init__.py").write_text("")
    (code / "shapes" / "units.py").write_text("def unit():\n    return 'm2'\n")
    (code / "shapes" / "area.py").write_text("from shapes.units import unit\n\n"
                                             "def square(p):\n    return {'area': p['side'] ** 2, 'unit': unit()}\n")
    cli(up, "function", "create", "area", "--file", str(code), "--handler", "shapes.area:square")
    assert json.loads(cli(up, "function", "invoke", "area", "--data", '{"side": 3}').stdout) == {"area": 9, "unit": "m2"}
    configmap = up.client.get("configmaps", "fn-area", namespace=NAMESPACE)
    assert list(configmap["binaryData"]) == ["source.zip"] and sorted(configmap["data"]) == ["_funcserver.py",
                                                                                            "_funczip.py"]

    (code / "shapes" / "units.py").write_text("def unit():\n    return 'cm2'\n")
    archive = tmp_path / "area.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name in ("shapes/__init__.py", "shapes/units.py", "shapes/area.py"):
            out.write(code / name, name)
    cli(up, "function", "update", "area", "--file", str(archive))
    wait_for(lambda: up.client.invoke("functions", "area", {"side": 3}, namespace=NAMESPACE)["unit"] == "cm2",
             timeout=60, interval=0.2, what="the instances to roll to the new archive")

    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as out:
        out.writestr("shapes/area.py", "")
        out.writestr("../../escape.py", "")
    refused = cli(up, "function", "update", "area", "--file", str(hostile), ok=False).stderr
    assert refused.startswith("Error from server (Invalid)") and "spec.source.zip" in refused
    assert "'..' parts" in refused and len(refused.strip().splitlines()) == 1

    (tmp_path / "main.py").write_text("def handle(p):\n    return 'inline again'\n")
    cli(up, "function", "update", "area", "--file", str(tmp_path / "main.py"), "--handler", "main:handle")
    assert "zip" not in up.client.get("functions", "area", namespace=NAMESPACE)["spec"]["source"]
    # the old instances answer until the roll is done, so the call suits the old code and the new
    wait_for(lambda: up.client.invoke("functions", "area", {"side": 3}, namespace=NAMESPACE) == "inline again",
             timeout=60, interval=0.2, what="the inline source to replace the archive")


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of a Markdown text: (language, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_the_example_in_docs_examples_runs_as_documented(up: Up3) -> None:
    """Every command of the README's `sh` blocks, in order, from the top of the repository (`cd` moves);
    each `json` block after an `sh` block is what that block's last command prints. So the page cannot
    drift from what the platform does: a short text takes the Choice's default, a long one the Map."""
    cwd, ran, checked = ROOT, [], 0
    blocks = readme_blocks(EXAMPLE_README.read_text())
    for (language, body), (after, expected) in zip(blocks, [*blocks[1:], ("", "")]):
        if language != "sh":
            continue
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[0] == "cd":
                cwd = cwd / words[1]
                continue
            assert words[0] == "minik8s", f"the example runs only minik8s commands: {line}"
            stdin = None
            if "<" in words:
                at = words.index("<")
                stdin, words = (cwd / words[at + 1]).read_text(), words[:at]
            proc = cli(up, *words[1:], stdin=stdin, cwd=cwd)
            if words[2] == "create":
                assert proc.stdout.strip().endswith(f"/{words[3]} created")
            ran.append(" ".join(words[1:3]))
        if after == "json":
            assert json.loads(proc.stdout) == json.loads(expected), f"{body}\n{proc.stdout}"
            checked += 1
    assert ran == ["function create"] * 3 + ["workflow create", "function invoke", "workflow run", "workflow run"]
    assert checked == 3
    history = [h for run in up.client.list("workflowruns", namespace=NAMESPACE)["items"]
               if run["spec"]["workflowRef"]["name"] == "wordstats" for h in run["status"]["history"]]
    entered = {h["state"] for h in history if h["event"] == "StateEntered"}
    assert {"CountAll", "CountChunks", "Summarize"} <= entered


@pytest.mark.slow  # about 40 s: ./scripts/test.sh --slow
def test_a_run_survives_a_kill_of_the_leader_and_runs_no_finished_task_twice(up: Up3, tmp_path: Path) -> None:
    """kill -9 of the master that runs the workflows while a Task's call is in flight: the next leader
    sends that call again with the same call id and gets its answer without running it again, then
    finishes the run. (Last in the module: the cluster goes on with two masters.)"""
    up.client.create(workflow_function("wf-record", "main:record"))
    calls = tmp_path / "calls"
    definition = {"StartAt": "One", "States": {
        "One": {"Type": "Task", "Resource": "function:wf-record",
                "Parameters": {"file.$": "$.file", "step": "one", "sleep": 6}, "ResultPath": None, "Next": "Two"},
        "Two": {"Type": "Task", "Resource": "function:wf-record", "Parameters": {"file.$": "$.file", "step": "two"},
                "ResultPath": None, "End": True}}}
    up.client.create({"apiVersion": "minik8s.io/v1", "kind": "Workflow",
                      "metadata": {"name": "survivor", "namespace": NAMESPACE}, "spec": {"definition": definition}})
    created = up.client.create({"apiVersion": "minik8s.io/v1", "kind": "WorkflowRun",
                                "metadata": {"name": "survivor-1", "namespace": NAMESPACE},
                                "spec": {"workflowRef": {"name": "survivor"},
                                         "input": json.dumps({"file": str(calls)})}})
    wait_for(lambda: calls.exists() and calls.read_text() == "one\n", timeout=60,
             what="the first Task to be running")
    resource, lease, lease_namespace = LEASE_OF_CONTROLLERS
    holder = up.client.get(resource, lease, namespace=lease_namespace)["spec"]["holderIdentity"]
    os.kill(up.state["pids"][int(holder.rsplit("-", 1)[1])], signal.SIGKILL)
    status = wait_for(lambda: (s := up.client.get("workflowruns", "survivor-1", namespace=NAMESPACE)["status"])
                      .get("phase") in ("Succeeded", "Failed") and s, timeout=90, what="the run to end")
    assert status["phase"] == "Succeeded", status
    assert calls.read_text().splitlines() == ["one", "two"]
    assert created["metadata"]["name"] == "survivor-1"
