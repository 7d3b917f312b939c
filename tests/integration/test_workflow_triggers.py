"""Workflow triggers on one real master (no nodes: the workflows have only Pass states).

`workflows/NAME/invoke` starts a run and with `wait=true` answers once the master's workflow runner
ended it; an unknown workflow is a 404, input that is not JSON a 400; `minik8s workflow run` starts
runs through it. A cron schedule fires through
a schedule controller run here with a clock set to the scheduled time (the master's own one reads
the real clock, for which the time is weeks away): one run named after the scheduled time, which
a second controller (a new leader that missed the first one's status write) does not start again.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kinds.workflow import scheduled_run_name
from minik8s.api.timefmt import parse_time
from minik8s.serverless.schedules import ScheduleController

from .cluster import TOKEN, Cluster, wait_for
from .workload_support import minik8s

PASS = {"StartAt": "Add", "States": {"Add": {"Type": "Pass", "Parameters": {"got.$": "$.n"}, "End": True}}}


def workflow(name: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": {"name": name, "namespace": "default"},
            "spec": {"definition": PASS, **spec}}


def next_new_year(after: float) -> float:
    year = datetime.fromtimestamp(after, tz=timezone.utc).year + 1
    return datetime(year, 1, 1, tzinfo=timezone.utc).timestamp()


def test_invoke_and_a_schedule_start_workflow_runs(cluster1: Cluster, tmp_path: Path) -> None:
    url = cluster1.masters[0].url
    with ApiClient(url, token=TOKEN, timeout=30) as client:
        client.create(workflow("echo"))
        done = client.invoke("workflows", "echo", b'{"n": 5}', namespace="default",
                             params={"wait": "true", "timeoutSeconds": "60"}, timeout=70)
        assert done["status"]["phase"] == "Succeeded", done["status"]
        assert json.loads(done["status"]["output"]) == {"got": 5}
        assert cluster1.post(0, "/apis/minik8s.io/v1/namespaces/default/workflows/nope/invoke", {}).status_code == 404
        bad = cluster1.session.post(f"{url}/apis/minik8s.io/v1/namespaces/default/workflows/echo/invoke",
                                    data=b"{nope", timeout=10)
        assert bad.status_code == 400 and "the run's input" in bad.json()["message"]
        config = ["--kubeconfig", str(cluster1.write_kubeconfig(tmp_path / "kubeconfig"))]
        cli = subprocess.run(minik8s("workflow", "run", "echo", "--input", '{"n": 3}', *config),
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0 and json.loads(cli.stdout) == {"got": 3}, cli.stderr
        assert "workflowrun.minik8s.io/echo-" in cli.stderr
        cli = subprocess.run(minik8s("workflow", "run", "nope", *config), capture_output=True, text=True, timeout=60)
        assert cli.returncode != 0 and "not found" in cli.stderr, cli.stderr

        made = client.create(workflow("yearly", schedule="0 0 1 1 *", scheduleInput='{"n": 7}'))
        fire_at = next_new_year(parse_time(made["metadata"]["creationTimestamp"]).timestamp())
        run_name = scheduled_run_name("yearly", fire_at)
        for leader in range(2):
            if leader:  # a new leader that missed the first one's status write sees the same time due
                stored = client.get("workflows", "yearly", namespace="default")
                client.update_status({**stored, "status": {}})
            controller = ScheduleController(client.copy(), now=lambda: fire_at + 30)
            controller.start()
            try:
                run = wait_for(lambda: _get(client, run_name), timeout=20, what="the scheduled run")
                wait_for(lambda: (client.get("workflows", "yearly", namespace="default").get("status") or {})
                         .get("lastScheduleTime"), timeout=20, what="lastScheduleTime")
            finally:
                controller.stop()
        runs = [r["metadata"]["name"] for r in client.list("workflowruns", namespace="default")["items"]
                if r["spec"]["workflowRef"]["name"] == "yearly"]
        assert runs == [run_name]
        assert run["metadata"]["ownerReferences"][0]["name"] == "yearly"
        status = client.get("workflows", "yearly", namespace="default")["status"]
        assert parse_time(status["lastScheduleTime"]).timestamp() == fire_at
        ended = wait_for(lambda: (r := _get(client, run_name)) and r.get("status", {}).get("phase") == "Succeeded"
                         and r, timeout=30, what="the scheduled run to succeed")
        assert json.loads(ended["status"]["output"]) == {"got": 7}


def _get(client: ApiClient, name: str) -> dict[str, object] | None:
    try:
        return client.get("workflowruns", name, namespace="default")
    except errors.NotFoundError:
        return None
