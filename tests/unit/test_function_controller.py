"""The function controller's objects: the ConfigMap with the code, the Deployment of instances."""

from __future__ import annotations

from minik8s.api.kinds.pod import PYTHON_ZYGOTE_ANNOTATION
from minik8s.serverless.controller import (
    CODE_HASH, FUNCTION_DIR, HELPER_FILE, SERVER_FILE, ZIP_FILE, code_hash, helper_source, module_file, server_source,
    wanted_configmap, wanted_deployment,
)


def function(**spec: object) -> dict[str, object]:
    return {"apiVersion": "minik8s.io/v1", "kind": "Function",
            "metadata": {"name": "resize", "namespace": "imgs", "uid": "u-1", "generation": 1},
            "spec": {"source": {"inline": "def handle(p):\n    return p\n"}, "handler": "main:handle",
                     "timeoutSeconds": 30, "containerConcurrency": 4, **spec}}


def test_module_file_is_the_handlers_module() -> None:
    assert module_file("main:handle") == "main.py"
    assert module_file("app:run") == "app.py"


def test_configmap_holds_the_module_and_the_server_and_is_owned() -> None:
    cm = wanted_configmap(function(handler="app:run"), "SERVER", "HELPER")
    assert cm["metadata"]["name"] == "fn-resize" and cm["metadata"]["namespace"] == "imgs"
    assert cm["data"] == {"app.py": "def handle(p):\n    return p\n", SERVER_FILE: "SERVER"}
    assert cm["metadata"]["ownerReferences"] == [{"apiVersion": "minik8s.io/v1", "kind": "Function",
                                                  "name": "resize", "uid": "u-1", "controller": True,
                                                  "blockOwnerDeletion": True}]
    assert cm["metadata"]["labels"] == {"minik8s.io/function": "resize"}


def test_deployment_runs_the_server_with_the_code_mounted() -> None:
    d = wanted_deployment(function(env=[{"name": "MODE", "value": "fast"}]), "abc", 0)
    assert d["metadata"]["name"] == "fn-resize" and d["spec"]["replicas"] == 0
    pod = d["spec"]["template"]
    assert pod["metadata"]["labels"] == {"minik8s.io/function": "resize"}
    assert pod["metadata"]["annotations"] == {CODE_HASH: "abc", PYTHON_ZYGOTE_ANNOTATION: "true"}
    assert pod["spec"]["terminationGracePeriodSeconds"] == 35  # the call timeout plus a margin: calls finish
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python3", f"{FUNCTION_DIR}/{SERVER_FILE}"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MINIK8S_FUNCTION_HANDLER"] == "main:handle" and env["MINIK8S_CONTAINER_CONCURRENCY"] == "4"
    assert env["MINIK8S_FUNCTION_TIMEOUT"] == "30" and env["MODE"] == "fast"
    assert container["volumeMounts"] == [{"name": "code", "mountPath": FUNCTION_DIR, "readOnly": True}]
    assert pod["spec"]["volumes"] == [{"name": "code", "configMap": {"name": "fn-resize"}}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}


def test_code_hash_changes_with_code_and_settings_but_not_with_scale() -> None:
    base = function()
    cm = wanted_configmap(base, "S", "H")
    same = code_hash(cm, function(scale={"minScale": 1, "maxScale": 3}))
    assert code_hash(cm, base) == same
    assert code_hash(wanted_configmap(function(source={"inline": "x = 1\n"}), "S", "H"), base) != same
    assert code_hash(cm, function(timeoutSeconds=31)) != same
    assert code_hash(cm, function(env=[{"name": "A", "value": "1"}])) != same


def test_the_server_source_is_the_stdlib_only_instance_server() -> None:
    text = server_source()
    assert "minik8s" not in "".join(line for line in text.splitlines() if line.startswith(("import", "from")))


def test_a_zip_source_goes_into_binary_data_with_the_archive_checks() -> None:
    """The archive as binaryData (base64, as the Function holds it), `_funczip.py` beside the server, and
    MINIK8S_FUNCTION_ZIP telling the instances to unpack it; no module file of the inline kind."""
    zipped = function(source={"zip": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}, handler="app.api:run")
    cm = wanted_configmap(zipped, "SERVER", "HELPER")
    assert cm["data"] == {SERVER_FILE: "SERVER", HELPER_FILE: "HELPER"}
    assert cm["binaryData"] == {ZIP_FILE: "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}
    env = {e["name"]: e["value"] for e in wanted_deployment(zipped, "abc", 0)["spec"]["template"]["spec"]
           ["containers"][0]["env"]}
    assert env["MINIK8S_FUNCTION_ZIP"] == f"{FUNCTION_DIR}/{ZIP_FILE}"
    assert "MINIK8S_FUNCTION_ZIP" not in str(wanted_deployment(function(), "abc", 0))
    assert "binaryData" not in wanted_configmap(function(), "S", "H")
    other = function(source={"zip": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAB=="}, handler="app.api:run")
    assert code_hash(cm, zipped) != code_hash(wanted_configmap(other, "SERVER", "HELPER"), other)
    assert HELPER_FILE == "_funczip.py" and "def unpack(" in helper_source()
