"""The rollout verbs' decisions: kubectl's status lines, history, rollback patches, set image, durations."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.kinds import resolve
from minik8s.api.workloads import CHANGE_CAUSE_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION
from minik8s.cli.client_verbs import CliError
from minik8s.cli.rollout import history_lines, image_patch, parse_duration, rollback_patch, status_message

Obj = dict[str, Any]


def deployment(*, generation: int = 2, observed: int = 2, replicas: int = 3, updated: int = 3, total: int = 3,
               available: int = 3, reason: str = "NewReplicaSetAvailable", image: str = "v2",
               paused: bool = False) -> Obj:
    return {"metadata": {"name": "web", "uid": "d", "generation": generation,
                         "annotations": {REVISION_ANNOTATION: "2", "team": "a"}},
            "spec": {"replicas": replicas, "paused": paused,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available, "conditions": [{"type": "Progressing", "reason": reason}]}}


def rs(revision: int, image: str, cause: str | None = None) -> Obj:
    notes = {REVISION_ANNOTATION: str(revision), **({CHANGE_CAUSE_ANNOTATION: cause} if cause else {})}
    return {"metadata": {"name": f"web-{revision}", "annotations": notes},
            "spec": {"template": {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: f"h{revision}"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


@pytest.mark.parametrize(("d", "message", "done"), [
    pytest.param(deployment(generation=3), "Waiting for deployment spec update to be observed...", False,
                 id="not-observed"),
    pytest.param(deployment(updated=1), 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas '
                 "have been updated...", False, id="updating"),
    pytest.param(deployment(total=5), 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending '
                 "termination...", False, id="old-pending"),
    pytest.param(deployment(available=2), 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas '
                 "are available...", False, id="becoming-available"),
    pytest.param(deployment(), 'deployment "web" successfully rolled out', True, id="done"),
])
def test_rollout_status_lines_match_kubectl(d: Obj, message: str, done: bool) -> None:
    """The same lines as kubectl's DeploymentStatusViewer."""
    assert status_message(d) == (message, done)


def test_rollout_status_fails_past_the_progress_deadline() -> None:
    """ProgressDeadlineExceeded: an error, as kubectl exits non-zero."""
    with pytest.raises(CliError, match='deployment "web" exceeded its progress deadline'):
        status_message(deployment(updated=1, reason="ProgressDeadlineExceeded"))


def test_rollout_history_lines() -> None:
    """Revisions in order with their change cause (<none> without)."""
    assert history_lines([rs(2, "v2", "set image v2"), rs(1, "v1")]) == [
        "REVISION\tCHANGE-CAUSE", "1\t<none>", "2\tset image v2"]
    assert history_lines([]) == ["No rollout history found."]


def test_rollout_undo_restores_the_previous_template_without_the_hash() -> None:
    """undo: the previous revision's template (hash label dropped) and annotations, the revision kept."""
    patch, outcome = rollback_patch(deployment(), [rs(1, "v1", "first"), rs(2, "v2")], 0)
    assert outcome == "rolled back" and patch is not None
    assert patch[0] == {"op": "replace", "path": "/spec/template", "value": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}}
    assert patch[1]["value"] == {REVISION_ANNOTATION: "2", CHANGE_CAUSE_ANNOTATION: "first"}


def test_rollout_undo_refusals_and_skips() -> None:
    """Unknown revision, no history, paused: errors; the current template: skipped."""
    history = [rs(1, "v1"), rs(2, "v2")]
    with pytest.raises(CliError, match="unable to find specified revision 7"):
        rollback_patch(deployment(), history, 7)
    with pytest.raises(CliError, match="no rollout history"):
        rollback_patch(deployment(), history[1:], 0)
    with pytest.raises(CliError, match="cannot rollback a paused deployment"):
        rollback_patch(deployment(paused=True), history, 1)
    patch, outcome = rollback_patch(deployment(), history, 2)
    assert patch is None and outcome == "skipped rollback (current template already matches revision 2)"


def test_set_image_patches_containers_by_name() -> None:
    """Named containers (or `*`) get the image; an unknown name is an error."""
    deploy = resolve("deployments.apps")
    d = deployment()
    assert image_patch(deploy, d, {"c": "v3"}) == {
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v3"}]}}}}
    assert image_patch(deploy, d, {"*": "v4"})["spec"]["template"]["spec"]["containers"][0]["image"] == "v4"
    with pytest.raises(CliError, match='unable to find container named "x"'):
        image_patch(deploy, d, {"x": "v3"})
    pod = {"spec": {"containers": [{"name": "c", "image": "v1"}]}}
    assert image_patch(resolve("pods"), pod, {"c": "v2"}) == {"spec": {"containers": [{"name": "c", "image": "v2"}]}}


@pytest.mark.parametrize(("text", "seconds"), [
    pytest.param("0", 0.0, id="zero"), pytest.param("45", 45.0, id="plain"), pytest.param("30s", 30.0, id="s"),
    pytest.param("2m", 120.0, id="m"), pytest.param("1m30s", 90.0, id="m-s"), pytest.param("1h", 3600.0, id="h"),
])
def test_rollout_durations(text: str, seconds: float) -> None:
    """--timeout takes kubectl's duration forms."""
    assert parse_duration(text) == seconds


def test_rollout_bad_duration() -> None:
    """A malformed duration is a one-line error."""
    with pytest.raises(CliError):
        parse_duration("soon")
