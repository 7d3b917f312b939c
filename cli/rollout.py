"""Workload verbs: `minik8s rollout status|history|undo|pause|resume|restart`, `set image`, `scale`.

They do what kubectl 1.32 does, client-side, with the same words: `rollout status` follows the
Deployment until its rollout finishes (kubectl's `DeploymentStatusViewer`, non-zero exit once
`ProgressDeadlineExceeded`); `rollout history` lists the revisions of the ReplicaSets the
Deployment controls with their `kubernetes.io/change-cause`; `rollout undo` writes an older
ReplicaSet's template (without its `pod-template-hash`) and annotations back into the Deployment
with one JSON patch, refusing while paused; `pause`/`resume` flip `spec.paused`; `restart` stamps
`kubectl.kubernetes.io/restartedAt` on the pod template; `set image` patches containers by
name; `scale` writes the `scale` subresource. The decisions are pure functions (`status_message`,
`revisions`, `rollback_patch`), the verbs only fetch and write.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from minik8s.api import errors, kinds
from minik8s.api.client import ApiClient, ensure_type_meta
from minik8s.api.describe import Lines
from minik8s.api.kinds import ResourceType
from minik8s.api.kinds.workload import describe_template
from minik8s.api.selectors import label_selector_from_dict
from minik8s.api.workloads import (
    ANNOTATIONS_NOT_COPIED, CHANGE_CAUSE_ANNOTATION, POD_TEMPLATE_HASH_LABEL, RESTARTED_AT_ANNOTATION,
    equal_ignoring_hash, is_controlled_by, revision,
)
from minik8s.cli import printers
from minik8s.cli.client_verbs import (
    CliError, KubeconfigOpt, NamespaceOpt, ServerOpt, TokenOpt, connect, one_line_errors, parse_targets,
)

Obj = dict[str, Any]

_DEPLOYMENTS = kinds.resolve("deployments.apps")
_REPLICASETS = kinds.resolve("replicasets.apps")
TIMED_OUT = "ProgressDeadlineExceeded"
STATUS_POLL_SECONDS = 10  # longest single watch poll while following a rollout

TargetArgs = Annotated[list[str], typer.Argument(help="deployment/NAME or deployment NAME.")]

# -- pure decisions ----------------------------------------------------------------------------


def status_message(d: Obj) -> tuple[str, bool]:
    """kubectl's rollout status line for a Deployment and whether the rollout is done; raises
    `CliError` once the rollout exceeded its progress deadline."""
    meta, spec, status = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    name = meta.get("name")
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    if progressing is not None and progressing.get("reason") == TIMED_OUT:
        raise CliError(f'deployment "{name}" exceeded its progress deadline')
    replicas = spec.get("replicas", 1)
    updated, total = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        return f"{waiting}{updated} out of {replicas} new replicas have been updated...", False
    if total > updated:
        return f"{waiting}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


def owned_replica_sets(d: Obj, replica_sets: list[Obj]) -> list[Obj]:
    """The ReplicaSets the Deployment controls (kubectl's `GetAllReplicaSets`)."""
    return [rs for rs in replica_sets if is_controlled_by(rs, d)]


def revisions(replica_sets: list[Obj]) -> dict[int, Obj]:
    """Revision -> ReplicaSet (malformed revisions skipped)."""
    found = {}
    for rs in replica_sets:
        number = revision(rs)
        if number is not None:
            found[number] = rs
    return dict(sorted(found.items()))


def history_lines(replica_sets: list[Obj]) -> list[str]:
    """`REVISION  CHANGE-CAUSE` rows (tab-separated), or kubectl's note when there is no history."""
    by_revision = revisions(replica_sets)
    if not by_revision:
        return ["No rollout history found."]
    lines = ["REVISION\tCHANGE-CAUSE"]
    for number, rs in by_revision.items():
        cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION) or "<none>"
        lines.append(f"{number}\t{cause}")
    return lines


def rollback_patch(d: Obj, replica_sets: list[Obj], to_revision: int) -> tuple[list[Obj] | None, str]:
    """The JSON patch that restores revision `to_revision` (0: the previous one) and the verb's
    outcome word; None when the template already matches. Raises `CliError` like kubectl."""
    name = d["metadata"]["name"]
    if to_revision < 0:
        raise CliError(f"unable to find specified revision {to_revision} in history")
    by_revision = revisions(replica_sets)
    if to_revision == 0:
        if len(by_revision) < 2:
            raise CliError(f'no rollout history found for deployment "{name}"')
        to_revision = list(by_revision)[-2]
    rs = by_revision.get(to_revision)
    if rs is None:
        raise CliError(f"unable to find specified revision {to_revision} in history")
    if (d.get("spec") or {}).get("paused"):
        raise CliError("you cannot rollback a paused deployment; resume it first with "
                       "'minik8s rollout resume' and try again")
    template = rs.get("spec", {}).get("template") or {}
    if equal_ignoring_hash(template, (d.get("spec") or {}).get("template")):
        return None, f"skipped rollback (current template already matches revision {to_revision})"
    restored = {**template, "metadata": {**(template.get("metadata") or {})}}
    labels = {k: v for k, v in (restored["metadata"].get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
    restored["metadata"]["labels"] = labels
    annotations = {k: v for k, v in ((d["metadata"].get("annotations") or {}).items()) if k in ANNOTATIONS_NOT_COPIED}
    annotations.update({k: v for k, v in ((rs["metadata"].get("annotations") or {}).items())
                        if k not in ANNOTATIONS_NOT_COPIED})
    return [{"op": "replace", "path": "/spec/template", "value": restored},
            {"op": "add", "path": "/metadata/annotations", "value": annotations}], "rolled back"


def parse_duration(text: str) -> float:
    """`30s`, `2m`, `1h`, `1m30s` or plain seconds as seconds (0: no limit)."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise CliError(f'invalid duration "{text}": use e.g. 30s, 5m or 1h')
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


# -- fetching ----------------------------------------------------------------------------------


def _one_deployment(args: list[str]) -> str:
    """The Deployment name of `deployment/NAME` or `deployment NAME` (CliError for anything else)."""
    targets = parse_targets(args)
    if len(targets) != 1 or len(targets[0][1]) != 1:
        raise CliError("exactly one deployment must be named, e.g. deployment/web")
    rt, names = targets[0]
    if rt is not _DEPLOYMENTS:
        raise CliError(f"rollout is supported for deployments only, not {rt.plural}")
    return names[0]


def _replica_sets_of(client: ApiClient, d: Obj) -> list[Obj]:
    selector = label_selector_from_dict((d.get("spec") or {}).get("selector") or {})
    listing = client.list(_REPLICASETS, namespace=d["metadata"].get("namespace"), label_selector=str(selector))
    return owned_replica_sets(d, [ensure_type_meta(_REPLICASETS, rs) for rs in listing.get("items") or []])


def _name(rt: ResourceType, name: str) -> str:
    return f"{printers.kind_name(rt)}/{name}"


# -- rollout verbs ------------------------------------------------------------------------------

rollout_app = typer.Typer(help="Manage the rollout of a Deployment.", no_args_is_help=True)


@rollout_app.command("status")
@one_line_errors
def rollout_status(
    target: TargetArgs,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", "-w", help="Follow until the rollout ends.")] = True,
    timeout: Annotated[str, typer.Option("--timeout", help="Give up after this long (30s, 5m; 0: never).")] = "0",
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Show the status of a rollout, following it until it finishes (like kubectl rollout status)."""
    name = _one_deployment(target)
    limit = parse_duration(timeout)
    deadline = time.monotonic() + limit if limit > 0 else None
    with connect(server, token, kubeconfig) as client:
        d = client.get(_DEPLOYMENTS, name, namespace=namespace)
        last = ""
        while True:
            message, done = status_message(d)
            if message != last:
                typer.echo(message)
                last = message
            if done or not watch:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise CliError("timed out waiting for the condition")
            d = _next_version(client, d, name, namespace, remaining)


def _next_version(client: ApiClient, d: Obj, name: str, namespace: str, remaining: float | None) -> Obj:
    """The Deployment after its next change (or as it is after a quiet poll)."""
    wait = STATUS_POLL_SECONDS if remaining is None else max(1, min(STATUS_POLL_SECONDS, int(remaining)))
    try:
        events, _ = client.watch_poll(_DEPLOYMENTS, namespace=namespace, resource_version=d["metadata"]["resourceVersion"],
                                      timeout_seconds=wait, field_selector=f"metadata.name={name}")
    except errors.ExpiredError:
        return client.get(_DEPLOYMENTS, name, namespace=namespace)
    for event in events:
        if event.get("type") == "DELETED":
            raise CliError(f'deployment "{name}" was deleted')
    changed = [e["object"] for e in events if e.get("type") in ("ADDED", "MODIFIED")]
    return changed[-1] if changed else d


@rollout_app.command("history")
@one_line_errors
def rollout_history(
    target: TargetArgs,
    revision_number: Annotated[int, typer.Option("--revision", help="Show the pod template of this revision.")] = 0,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """List a Deployment's revisions and their change causes (like kubectl rollout history)."""
    name = _one_deployment(target)
    with connect(server, token, kubeconfig) as client:
        d = client.get(_DEPLOYMENTS, name, namespace=namespace)
        replica_sets = _replica_sets_of(client, d)
    writer = printers.TabWriter(minwidth=0, padding=2)
    if revision_number > 0:
        rs = revisions(replica_sets).get(revision_number)
        if rs is None:
            raise CliError("unable to find the specified revision")
        out = Lines()
        describe_template(out, {"spec": {"template": rs["spec"].get("template") or {}}})
        typer.echo(f"{_name(_DEPLOYMENTS, name)} with revision #{revision_number}")
        typer.echo("\n".join(writer.format(out.lines)))
        return
    typer.echo(f"{_name(_DEPLOYMENTS, name)} ")
    typer.echo("\n".join(writer.format(history_lines(replica_sets))) + "\n")


@rollout_app.command("undo")
@one_line_errors
def rollout_undo(
    target: TargetArgs,
    to_revision: Annotated[int, typer.Option("--to-revision", help="The revision to go back to (0: the previous).")] = 0,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Roll a Deployment back to an earlier revision (like kubectl rollout undo)."""
    name = _one_deployment(target)
    with connect(server, token, kubeconfig) as client:
        d = client.get(_DEPLOYMENTS, name, namespace=namespace)
        patch, outcome = rollback_patch(d, _replica_sets_of(client, d), to_revision)
        if patch is not None:
            client.patch(_DEPLOYMENTS, name, patch, namespace=namespace, patch_type="json")
    typer.echo(f"{_name(_DEPLOYMENTS, name)} {outcome}")


def _set_paused(args: list[str], paused: bool, namespace: str, server: str | None, token: str | None,
                kubeconfig: str | None) -> None:
    name = _one_deployment(args)
    with connect(server, token, kubeconfig) as client:
        d = client.get(_DEPLOYMENTS, name, namespace=namespace)
        if bool((d.get("spec") or {}).get("paused")) == paused:
            raise CliError(f'deployments.apps "{name}" is {"already" if paused else "not"} paused')
        client.patch(_DEPLOYMENTS, name, {"spec": {"paused": paused}}, namespace=namespace, patch_type="strategic")
    typer.echo(f"{_name(_DEPLOYMENTS, name)} {'paused' if paused else 'resumed'}")


@rollout_app.command("pause")
@one_line_errors
def rollout_pause(target: TargetArgs, namespace: NamespaceOpt = "default", server: ServerOpt = None,
                  token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Pause a Deployment: template changes wait until it is resumed (like kubectl rollout pause)."""
    _set_paused(target, True, namespace, server, token, kubeconfig)


@rollout_app.command("resume")
@one_line_errors
def rollout_resume(target: TargetArgs, namespace: NamespaceOpt = "default", server: ServerOpt = None,
                   token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Resume a paused Deployment (like kubectl rollout resume)."""
    _set_paused(target, False, namespace, server, token, kubeconfig)


@rollout_app.command("restart")
@one_line_errors
def rollout_restart(target: TargetArgs, namespace: NamespaceOpt = "default", server: ServerOpt = None,
                    token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Replace every pod of a Deployment by rolling out its template again (like kubectl rollout restart)."""
    name = _one_deployment(target)
    with connect(server, token, kubeconfig) as client:
        d = client.get(_DEPLOYMENTS, name, namespace=namespace)
        if (d.get("spec") or {}).get("paused"):
            raise CliError(f'deployments.apps "{name}" can\'t restart paused deployment (run rollout resume first)')
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}
        client.patch(_DEPLOYMENTS, name, patch, namespace=namespace, patch_type="strategic")
    typer.echo(f"{_name(_DEPLOYMENTS, name)} restarted")


# -- set image, scale -----------------------------------------------------------------------------

set_app = typer.Typer(help="Change specific fields of objects.", no_args_is_help=True)


def image_patch(rt: ResourceType, obj: Obj, images: dict[str, str]) -> Obj:
    """A strategic-merge patch setting container images by name (`*`: every container)."""
    spec = obj.get("spec") or {}
    pod_spec = spec if rt.kind == "Pod" else (spec.get("template") or {}).get("spec") or {}
    containers = [c.get("name") for c in pod_spec.get("containers") or []]
    chosen: dict[str, str] = {}
    for container, image in images.items():
        if container == "*":
            chosen.update({c: image for c in containers})
        elif container in containers:
            chosen[container] = image
        else:
            raise CliError(f'unable to find container named "{container}"')
    patch: Obj = {"containers": [{"name": c, "image": i} for c, i in chosen.items()]}
    return {"spec": patch} if rt.kind == "Pod" else {"spec": {"template": {"spec": patch}}}


@set_app.command("image")
@one_line_errors
def set_image(
    args: Annotated[list[str], typer.Argument(help="KIND/NAME (or KIND NAME) then CONTAINER=IMAGE ...")],
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Set the image of containers of a Deployment, ReplicaSet or Pod (like kubectl set image)."""
    names = [a for a in args if "=" not in a]
    pairs = [a.split("=", 1) for a in args if "=" in a]
    if not pairs:
        raise CliError("at least one image update is required, e.g. web=nginx:1.27")
    targets = parse_targets(names)
    with connect(server, token, kubeconfig) as client:
        for rt, objects in targets:
            if rt.kind not in ("Deployment", "ReplicaSet", "Pod"):
                raise CliError(f"setting images is not supported for {rt.plural}")
            for name in objects:
                obj = client.get(rt, name, namespace=namespace)
                client.patch(rt, name, image_patch(rt, obj, dict(pairs)), namespace=namespace,
                             patch_type="strategic")
                typer.echo(f"{_name(rt, name)} image updated")


@one_line_errors
def scale(
    target: Annotated[list[str], typer.Argument(help="deployment/NAME, rs NAME, ...")],
    replicas: Annotated[int, typer.Option("--replicas", min=0, help="The new number of replicas.")],
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Set the number of replicas of a Deployment or ReplicaSet (like kubectl scale)."""
    targets = parse_targets(target)
    with connect(server, token, kubeconfig) as client:
        for rt, names in targets:
            if "scale" not in rt.subresources:
                raise CliError(f"{rt.plural} cannot be scaled")
            if not names:
                raise CliError("resource(s) were provided, but no name was specified")
            for name in names:
                client.scale(rt, name, namespace=namespace, replicas=replicas)
                typer.echo(f"{_name(rt, name)} scaled")


def register(main: typer.Typer) -> None:
    """Add `rollout`, `set` and `scale` to the main `minik8s` app."""
    main.add_typer(rollout_app, name="rollout")
    main.add_typer(set_app, name="set")
    main.command("scale")(scale)
