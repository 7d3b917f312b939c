"""The kubectl-like client verbs of `minik8s`: apply, get, describe, delete, cluster status.

Each verb connects with `--server/--token/--kubeconfig` (flags > environment > kubeconfig, see
`minik8s.api.kubeconfig`) through an `ApiClient` that fails over between masters. Output comes
from `minik8s.cli.printers`, manifests from `minik8s.cli.manifests`. Every mistake a user can
make ends as one line on stderr and exit status 1, never a traceback (`one_line_errors`):
`Error from server (NotFound): pods "x" not found`, `error: cannot connect to the cluster at URL: connection
refused - ...`.

`apply` is server-side apply with field manager `kubectl`, the manager `kubectl apply --server-side`
uses, forcing conflicts: `minik8s apply -f` and `kubectl apply --server-side -f` of one file own
the same fields, and either one after the other changes nothing.

`register(app)` adds the verbs to the main `minik8s` Typer app; this module's own `app` carries
them too, so the verbs can be run and tested alone.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Iterable
from typing import Annotated, Any, NoReturn, TypeVar

import requests
import typer

from minik8s.api import errors, kinds
from minik8s.api.client import ApiClient, ensure_type_meta
from minik8s.api.kinds import ResourceType
from minik8s.api.kubeconfig import resolve_client_config
from minik8s.cli import printers
from minik8s.cli.manifests import STDIN, ManifestError, load_manifests, resource_of

Obj = dict[str, Any]

# -- options shared by the verbs, defined once -------------------------------------------------

ServerOpt = Annotated[
    str | None, typer.Option("--server", "-s", help="API server URL(s), comma-separated; tried in turn.")
]
TokenOpt = Annotated[str | None, typer.Option("--token", help="Bearer token for the API servers.")]
KubeconfigOpt = Annotated[str | None, typer.Option("--kubeconfig", help="Path of the kubeconfig file to use.")]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace of namespaced objects.")]
AllNamespacesOpt = Annotated[bool, typer.Option("--all-namespaces", "-A", help="List across all namespaces.")]
SelectorOpt = Annotated[str | None, typer.Option("--selector", "-l", help="Label selector, e.g. app=web,tier!=db.")]
FieldSelectorOpt = Annotated[
    str | None, typer.Option("--field-selector", help="Field selector, e.g. status.phase=Running.")
]
FilenamesOpt = Annotated[
    list[str] | None, typer.Option("--filename", "-f", help="Manifest file, directory or - for stdin; repeatable.")
]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Output format: wide, yaml, json or name.")]

OUTPUT_FORMATS = ("json", "name", "wide", "yaml")
FIELD_MANAGER = "kubectl"  # what `kubectl apply --server-side` applies as, so both share their fields
DELETE_POLL_SECONDS = 0.5
WATCHED_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED")

# -- errors ----------------------------------------------------------------------------------


class CliError(Exception):
    """A mistake the user can fix; printed as `error: <message>`."""


def _unreachable(err: errors.ApiError) -> bool:
    """True when no server answered at all (the client gave up on connections, not on a reply)."""
    return isinstance(err, errors.ServiceUnavailableError) and isinstance(err.__cause__, requests.RequestException)


def connect_error_line(failures: list[tuple[str, str]]) -> str:
    """`error: cannot connect to the cluster at URL[, URL]: why` and what to check, one line."""
    urls = ", ".join(server for server, _ in failures)
    reasons = list(dict.fromkeys(why for _, why in failures))
    why = reasons[0] if len(reasons) == 1 else "; ".join(f"{server}: {w}" for server, w in failures)
    if any(w.startswith("TLS") for w in reasons):
        hint = "is the cluster running, and is this kubeconfig for the cluster at that address?"
    else:
        hint = "is the cluster running? (`minik8s up` starts one)"
    return f"error: cannot connect to the cluster at {urls}: {why} - {hint}"


def error_line(err: errors.ApiError, context: str = "") -> str:
    """The one line kubectl prints for a failed request."""
    failures = getattr(err, "connect_failures", None)
    if failures and _unreachable(err):
        return connect_error_line(failures)
    if _unreachable(err):
        tried = err.message.partition("; tried ")[2] or err.message
        return f"error: cannot reach any server ({tried})"
    if isinstance(err, errors.UnauthorizedError):
        return "error: You must be logged in to the server (Unauthorized)"
    message = " ".join(err.message.splitlines())
    return f"Error from server ({err.reason}): {context}{message}"


def _fail(line: str) -> NoReturn:
    typer.echo(line, err=True)
    raise typer.Exit(1)


F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(command: F) -> F:
    """Turn user-caused failures into one stderr line and exit 1; Ctrl-C into exit 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except errors.ApiError as err:
            _fail(error_line(err))
        except (CliError, ManifestError, kinds.UnknownResourceError) as err:
            _fail(f"error: {err}")
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _each(items: Iterable[Any], action: Callable[[Any], None], context: Callable[[Any], str] = lambda _: "") -> bool:
    """Run `action` on every item, printing API errors and going on; True when all succeeded.

    A connection failure stops everything (the next item would fail the same way).
    """
    ok = True
    for item in items:
        try:
            action(item)
        except errors.ApiError as err:
            if _unreachable(err):
                raise
            typer.echo(error_line(err, context(item)), err=True)
            ok = False
    return ok


# -- connecting and naming -------------------------------------------------------------------


def connect(server: str | None, token: str | None, kubeconfig: str | None) -> ApiClient:
    """The client for the configured servers (flags > environment > kubeconfig)."""
    try:
        config = resolve_client_config(server, token, kubeconfig)
    except ValueError as err:
        raise CliError(str(err)) from err
    return ApiClient(config.servers, token=config.token, ca_file=config.ca_file)


def _category_all() -> list[ResourceType]:
    """`all`, ordered as kubectl prints it: core group first, then by group, then by plural."""
    group_order = list(dict.fromkeys(rt.group for rt in kinds.RESOURCES))
    return sorted(kinds.in_category("all"), key=lambda rt: (group_order.index(rt.group), rt.plural))


def resolve_kinds(text: str) -> list[ResourceType]:
    """`po,svc` or `all` as resource types, without repeats."""
    found: list[ResourceType] = []
    for part in text.split(","):
        for rt in _category_all() if part == "all" else [kinds.resolve(part)]:
            if rt not in found:
                found.append(rt)
    return found


def parse_targets(args: list[str]) -> list[tuple[ResourceType, list[str]]]:
    """`KIND[,KIND...] [NAME...]` or `KIND/NAME...` as (resource type, names) pairs."""
    if not args:
        raise CliError("you must specify the type of resource to get, e.g. pods")
    if any("/" in arg for arg in args):
        if not all("/" in arg for arg in args):
            raise CliError("there is no need to specify a resource type as a separate argument "
                           "when passing arguments in resource/name form")
        grouped: dict[ResourceType, list[str]] = {}
        for arg in args:
            kind, _, name = arg.partition("/")
            grouped.setdefault(kinds.resolve(kind), []).append(name)
        return list(grouped.items())
    return [(rt, args[1:]) for rt in resolve_kinds(args[0])]


def _read_manifests(filenames: list[str]) -> list[tuple[str, Obj]]:
    return load_manifests(filenames, sys.stdin.read() if STDIN in filenames else None)


def _namespace_of(rt: ResourceType, obj: Obj, default: str) -> str | None:
    return ((obj.get("metadata") or {}).get("namespace") or default) if rt.namespaced else None


# -- apply -----------------------------------------------------------------------------------


def apply_object(client: ApiClient, rt: ResourceType, obj: Obj, namespace: str) -> str:
    """Server-side apply one object as `kubectl apply --server-side --force-conflicts` does.

    Returns kubectl's word for what happened: `created` (it did not exist before), `unchanged`
    (its resourceVersion stayed: the server wrote nothing) or `configured`.
    """
    ns = _namespace_of(rt, obj, namespace)
    body = obj
    if ns is not None and not obj["metadata"].get("namespace"):  # kubectl sends the namespace it defaulted
        body = {**obj, "metadata": {**obj["metadata"], "namespace": ns}}
    try:
        before = client.get(rt, obj["metadata"]["name"], namespace=ns)
    except errors.NotFoundError:
        before = None
    after = client.apply(body, field_manager=FIELD_MANAGER, force=True)
    if before is None:
        return "created"
    return "unchanged" if _resource_version(after) == _resource_version(before) else "configured"


def _resource_version(obj: Obj) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


@one_line_errors
def apply(
    filenames: FilenamesOpt = None,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Create or update objects from manifests with server-side apply (like kubectl apply --server-side -f)."""
    if not filenames:
        raise CliError("must specify -f FILE (a file, a directory or - for stdin)")
    manifests = _read_manifests(filenames)
    if not manifests:
        raise CliError("no objects passed to apply")  # kubectl's words for empty files or only `---`
    with connect(server, token, kubeconfig) as client:

        def apply_one(item: tuple[str, Obj]) -> None:
            _, obj = item
            rt = resource_of(obj)
            outcome = apply_object(client, rt, obj, namespace)
            typer.echo(f"{printers.kind_name(rt)}/{obj['metadata']['name']} {outcome}")

        if not _each(manifests, apply_one, lambda item: f'error when applying "{item[0]}": '):
            raise typer.Exit(1)


# -- get -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Query:
    """Where and what to read: the namespace (or all of them) and selectors."""

    namespace: str
    all_namespaces: bool = False
    label_selector: str | None = None
    field_selector: str | None = None

    def list_namespace(self, rt: ResourceType) -> str | None:
        return self.namespace if rt.namespaced and not self.all_namespaces else None

    def list_objects(self, client: ApiClient, rt: ResourceType) -> tuple[list[Obj], str]:
        """The matching objects (with kind/apiVersion) and the revision they were read at."""
        listing = client.list(rt, namespace=self.list_namespace(rt), label_selector=self.label_selector,
                              field_selector=self.field_selector)
        items = [ensure_type_meta(rt, item) for item in listing.get("items") or []]
        return items, str((listing.get("metadata") or {}).get("resourceVersion") or "")


class ObjectPrinter:
    """Prints objects of one resource type in the chosen `-o` format, possibly in several calls."""

    def __init__(self, rt: ResourceType, output: str, *, show_namespace: bool, show_kind: bool,
                 no_headers: bool) -> None:
        self._rt = rt
        self._output = output
        self._table = printers.TablePrinter(rt, wide=output == "wide", show_namespace=show_namespace,
                                            show_kind=show_kind, no_headers=no_headers)

    def print(self, objects: list[Obj]) -> None:
        if self._output == "name":
            for line in printers.names(self._rt, objects):
                typer.echo(line)
        elif self._output == "yaml":
            for obj in objects:
                typer.echo("---\n" + printers.to_yaml(printers.with_type(self._rt, obj)), nl=False)
        elif self._output == "json":
            for obj in objects:
                typer.echo(printers.to_json(printers.with_type(self._rt, obj)))
        else:
            self._table.print(objects)


def _check_output(output: str) -> None:
    if output and output not in OUTPUT_FORMATS:
        raise CliError(f'unable to match a printer suitable for the output format "{output}", '
                       f"allowed formats are: {','.join(OUTPUT_FORMATS)}")


def _fetch(client: ApiClient, rt: ResourceType, names: list[str], query: Query) -> tuple[list[Obj], bool]:
    """The named objects (errors printed, flag False when one failed), or the query's list."""
    if not names:
        return query.list_objects(client, rt)[0], True
    found: list[Obj] = []

    def get_one(name: str) -> None:
        found.append(ensure_type_meta(rt, client.get(rt, name, namespace=query.namespace)))

    return found, _each(names, get_one)


def _print_documents(results: list[tuple[ResourceType, list[Obj]]], output: str, single: bool) -> None:
    items = [printers.with_type(rt, obj) for rt, objects in results for obj in objects]
    document = items[0] if single and len(items) == 1 else printers.as_list(items)
    if output == "yaml":
        typer.echo(printers.to_yaml(document), nl=False)
    else:
        typer.echo(printers.to_json(document))


def _print_listing(results: list[tuple[ResourceType, list[Obj]]], output: str, query: Query,
                   no_headers: bool) -> bool:
    """Tables (a blank line between kinds) or names; False when nothing was printed."""
    printed = False
    for rt, objects in results:
        if not objects:
            continue
        if printed and not no_headers and output != "name":
            typer.echo("")
        ObjectPrinter(rt, output, show_namespace=query.all_namespaces, show_kind=len(results) > 1,
                      no_headers=no_headers).print(objects)
        printed = True
    return printed


def _watch(client: ApiClient, rt: ResourceType, names: list[str], query: Query, printer: ObjectPrinter) -> None:
    """Print the current objects, then each change as it happens, until Ctrl-C."""
    if len(names) > 1:
        raise CliError("watch is only supported on individual resources and resource collections, "
                       f"but {len(names)} resources were found")
    if names:
        client.get(rt, names[0], namespace=query.namespace)  # a clear NotFound before waiting
        by_name = f"metadata.name={names[0]}"
        query = dataclasses.replace(query, field_selector=",".join(filter(None, [query.field_selector, by_name])))
    objects, revision = query.list_objects(client, rt)
    printer.print(objects)
    for event in client.watch(rt, namespace=query.list_namespace(rt), resource_version=revision,
                              label_selector=query.label_selector, field_selector=query.field_selector):
        if event.get("type") in WATCHED_EVENT_TYPES:
            printer.print([ensure_type_meta(rt, event["object"])])


@one_line_errors
def get(
    targets: Annotated[list[str], typer.Argument(help="KIND[,KIND...] [NAME...], KIND/NAME... or all.")],
    output: OutputOpt = "",
    selector: SelectorOpt = None,
    field_selector: FieldSelectorOpt = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="After listing, print changes as they happen.")] = False,
    no_headers: Annotated[bool, typer.Option("--no-headers", help="Print tables without headers.")] = False,
    all_namespaces: AllNamespacesOpt = False,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Display one or many objects (like kubectl get)."""
    _check_output(output)
    requested = parse_targets(targets)
    query = Query(namespace, all_namespaces, selector, field_selector)
    with connect(server, token, kubeconfig) as client:
        if watch:
            if len(requested) != 1:
                raise CliError("you may only specify a single resource type")
            rt, names = requested[0]
            _watch(client, rt, names, query, ObjectPrinter(rt, output, show_namespace=all_namespaces,
                                                           show_kind=False, no_headers=no_headers))
            return
        results, ok = [], True
        for rt, names in requested:
            objects, fetched = _fetch(client, rt, names, query)
            results.append((rt, objects))
            ok = ok and fetched
    if output in ("yaml", "json"):
        if ok or any(objects for _, objects in results):
            _print_documents(results, output, single=len(requested) == 1 and len(requested[0][1]) == 1)
    elif not _print_listing(results, output, query, no_headers) and ok:
        namespaced = all(rt.namespaced for rt, _ in requested) and not all_namespaces
        typer.echo(printers.no_resources_message(namespace if namespaced else None), err=True)
    if not ok:
        raise typer.Exit(1)


# -- describe --------------------------------------------------------------------------------


def events_for(client: ApiClient, rt: ResourceType, obj: Obj) -> list[Obj]:
    """The events about `obj` (empty when the server cannot say: describe still works)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") if rt.namespaced else None
    selector = f"involvedObject.name={meta.get('name')}"
    if namespace:
        selector += f",involvedObject.namespace={namespace}"
    try:
        listing = client.list("events", namespace=namespace, field_selector=selector)
    except errors.ApiError:
        return []
    kind = obj.get("kind") or rt.kind
    return [ev for ev in listing.get("items") or []
            if (ev.get("involvedObject") or {}).get("kind") in (None, "", kind)]


@one_line_errors
def describe(
    kind: Annotated[str, typer.Argument(help="Resource type, e.g. pod, deploy, svc.")],
    names: Annotated[list[str] | None, typer.Argument(help="Object names (default: all).")] = None,
    selector: SelectorOpt = None,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Show details of objects and their recent events (like kubectl describe)."""
    rt = kinds.resolve(kind)
    query = Query(namespace, label_selector=selector)
    with connect(server, token, kubeconfig) as client:
        objects, ok = _fetch(client, rt, names or [], query)
        texts = [printers.describe(rt, obj, events_for(client, rt, obj)) for obj in objects]
    if texts:
        typer.echo("\n\n\n".join(texts))
    elif ok:
        typer.echo(printers.no_resources_message(namespace if rt.namespaced else None), err=True)
    if not ok:
        raise typer.Exit(1)


# -- delete ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Doomed:
    """An object to delete (uid known once deleted, so a re-created namesake is not waited for)."""

    rt: ResourceType
    name: str
    namespace: str | None
    uid: str | None = None


def _delete_targets(client: ApiClient, targets: list[str], filenames: list[str], query: Query) -> list[_Doomed]:
    if filenames:
        if targets:
            raise CliError("arguments and -f cannot be combined: name objects either way")
        typed = [(resource_of(obj), obj) for _, obj in _read_manifests(filenames)]
        return [_Doomed(rt, obj["metadata"]["name"], _namespace_of(rt, obj, query.namespace)) for rt, obj in typed]
    doomed = []
    for rt, names in parse_targets(targets):
        if not names and not query.label_selector:
            raise CliError("resource(s) were provided, but no name was specified")
        if not names:
            names = [obj["metadata"]["name"] for obj in query.list_objects(client, rt)[0]]
        doomed.extend(_Doomed(rt, name, query.namespace if rt.namespaced else None) for name in names)
    return doomed


def _gone(client: ApiClient, item: _Doomed) -> bool:
    try:
        live = client.get(item.rt, item.name, namespace=item.namespace)
    except errors.NotFoundError:
        return True
    return item.uid is not None and (live.get("metadata") or {}).get("uid") != item.uid


def _wait_until_gone(client: ApiClient, deleted: list[_Doomed], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for item in deleted:
        while not _gone(client, item):
            if time.monotonic() >= deadline:
                raise CliError(f"timed out waiting for the condition on {item.rt.plural}/{item.name}")
            time.sleep(DELETE_POLL_SECONDS)


@one_line_errors
def delete(
    targets: Annotated[list[str] | None, typer.Argument(help="KIND NAME..., KIND/NAME... or KIND -l SELECTOR.")] = None,
    filenames: FilenamesOpt = None,
    selector: SelectorOpt = None,
    grace_period: Annotated[
        int, typer.Option("--grace-period", help="Seconds to let pods stop; -1: the pod's own.")
    ] = -1,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the objects are gone.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for deletion.")] = 60.0,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Delete objects by name, label selector or manifest (like kubectl delete)."""
    query = Query(namespace, label_selector=selector)
    with connect(server, token, kubeconfig) as client:
        doomed = _delete_targets(client, targets or [], filenames or [], query)
        if not doomed:
            typer.echo(printers.no_resources_message(namespace), err=True)
            return
        deleted: list[_Doomed] = []

        def delete_one(item: _Doomed) -> None:
            answer = client.delete(item.rt, item.name, namespace=item.namespace, propagation_policy="Background",
                                   grace_period_seconds=None if grace_period < 0 else grace_period)
            uid = (answer.get("metadata") or {}).get("uid") if answer.get("kind") != "Status" else None
            deleted.append(_Doomed(item.rt, item.name, item.namespace, uid))
            typer.echo(f'{printers.kind_name(item.rt)} "{item.name}" deleted')

        ok = _each(doomed, delete_one)
        if wait:
            _wait_until_gone(client, deleted, timeout)
    if not ok:
        raise typer.Exit(1)


# -- cluster status --------------------------------------------------------------------------

CLUSTER_HEADERS = ["NAME", "ROLE", "LEADER", "TERM", "COMMIT", "APPLIED", "REVISION"]
UNREACHABLE = "unreachable"
UNKNOWN = "<unknown>"


def cluster_row(client: ApiClient, server: str) -> list[str]:
    """One master's own view of the cluster; its URL with ROLE `unreachable` when it does not answer
    (or the reason it gave); a rejected token fails the whole command."""
    try:
        status = client.cluster_status(server)
    except (errors.UnauthorizedError, errors.ForbiddenError):
        raise
    except errors.ApiError as err:
        role = UNREACHABLE if _unreachable(err) else f"error ({err.reason})"
        return [server, role] + [UNKNOWN] * (len(CLUSTER_HEADERS) - 2)
    fields = ("role", "leader", "term", "commitIndex", "appliedIndex", "revision")
    return [str(status.get("name") or server)] + [
        "<none>" if status.get(field) is None else str(status[field]) for field in fields
    ]


@one_line_errors
def cluster_status(server: ServerOpt = None, token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Show every configured master's role, Raft term and indexes, and store revision."""
    with connect(server, token, kubeconfig) as client:
        rows = [cluster_row(client, url) for url in client.servers]
    for line in printers.format_rows([CLUSTER_HEADERS, *rows]):
        typer.echo(line)
    if all(row[-1] == UNKNOWN for row in rows):  # no master could tell
        raise typer.Exit(1)


LOG_NOTE_HEADER = "X-Minik8s-Log"  # why a GpuJob's log is empty (its output is not brought back yet)


def gpujob_log(client: ApiClient, name: str, *, namespace: str | None, stderr: bool = False,
               tail_lines: int | None = None) -> tuple[str, str | None]:
    """A GpuJob's stdout (or stderr) as the GPU job controller brought it back (`gpujobs/NAME/log`),
    and the server's note when there is none yet (`not brought back yet: the job is Running`)."""
    rt = kinds.resolve("gpujobs")
    params = {"stream": "stderr" if stderr else "stdout",
              **({"tailLines": tail_lines} if tail_lines is not None else {})}
    resp = client.request("GET", rt.object_path(name, namespace or "default") + "/log", params=params, stream=True)
    try:
        return resp.content.decode("utf-8", errors="replace"), resp.headers.get(LOG_NOTE_HEADER)
    finally:
        resp.close()


def _log_target(target: str) -> tuple[ResourceType, str]:
    """`NAME` (a pod), `pod/NAME` or `gpujob/NAME` (also `gj/NAME`): what `logs` reads."""
    kind, slash, name = target.rpartition("/")
    rt = kinds.resolve(kind) if slash else kinds.resolve("pods")
    if rt.plural not in ("pods", "gpujobs"):
        raise CliError(f"cannot get logs of {rt.plural}: only pods and gpujobs have logs")
    if not name:
        raise CliError(f"{target}: give a name after the /")
    return rt, name


@one_line_errors
def logs(
    pod: Annotated[str, typer.Argument(help="Pod name, pod/NAME, or gpujob/NAME (gj/NAME) for a GpuJob's stdout.")],
    container: Annotated[str | None, typer.Option("--container", "-c", help="Container (needed for several).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new output until interrupted.")] = False,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps", help="Prefix each line with its time.")] = False,
    previous: Annotated[bool, typer.Option("--previous", "-p", help="The previous (crashed) instance.")] = False,
    namespace: NamespaceOpt = "default",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Print a container's log, or a GpuJob's output (through the masters, like `kubectl logs`)."""
    rt, name = _log_target(pod)
    if rt.plural == "gpujobs":
        flags = [flag for flag, given in (("--container", container), ("--follow", follow),
                                          ("--timestamps", timestamps), ("--previous", previous)) if given]
        if flags:
            raise CliError(f"{', '.join(flags)}: only for pods (a GpuJob's output comes back once the job ended)")
        with connect(server, token, kubeconfig) as client:
            text, note = gpujob_log(client, name, namespace=namespace, tail_lines=tail)
        if note and not text:
            typer.echo(f"gpujob {name}: no output: {note}", err=True)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    pod = name
    with connect(server, token, kubeconfig) as client:
        if not follow:
            sys.stdout.write(client.log(pod, namespace=namespace, container=container, tail_lines=tail,
                                        timestamps=timestamps, previous=previous))
            sys.stdout.flush()
            return
        with client.log(pod, namespace=namespace, container=container, tail_lines=tail, timestamps=timestamps,
                        previous=previous, follow=True) as stream:
            for chunk in stream:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()


# -- version ---------------------------------------------------------------------------------


def client_version() -> Obj:
    """This `minik8s` command's version (the installed package's)."""
    import importlib.metadata
    import platform

    try:
        number = importlib.metadata.version("minik8s")
    except importlib.metadata.PackageNotFoundError:
        number = "0.0.0+unknown"
    return {"minik8sVersion": number, "gitVersion": f"v{number}", "pythonVersion": platform.python_version(),
            "platform": f"{platform.system().lower()}/{platform.machine()}"}


def version(
    client_only: Annotated[bool, typer.Option("--client", help="Only the client version (no server needed).")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="json or yaml (default: one line each).")] = "",
    server: ServerOpt = None,
    token: TokenOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Print the client version and, when the cluster answers, the server's (like `kubectl version`)."""
    if output not in ("", "json", "yaml"):
        _fail(f"error: --output must be json or yaml, not {output!r}")
    versions: Obj = {"clientVersion": client_version()}
    failure = None
    if not client_only:
        try:
            with connect(server, token, kubeconfig) as client:
                versions["serverVersion"] = client.server_version()
        except errors.ApiError as err:
            failure = error_line(err)
        except CliError as err:
            failure = f"error: {err}"
    if output:
        typer.echo(printers.to_json(versions) if output == "json" else printers.to_yaml(versions).rstrip("\n"))
    else:
        typer.echo(f"Client Version: {versions['clientVersion']['gitVersion']}")
        if "serverVersion" in versions:
            typer.echo(f"Server Version: {versions['serverVersion'].get('gitVersion', UNKNOWN)}")
    if failure:
        _fail(failure)


# -- registration ----------------------------------------------------------------------------

cluster_app = typer.Typer(help="Inspect the masters of the cluster.", no_args_is_help=True)
cluster_app.command("status")(cluster_status)

_VERBS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("apply", apply),
    ("get", get),
    ("describe", describe),
    ("delete", delete),
    ("logs", logs),
    ("version", version),
)


def register(main: typer.Typer) -> None:
    """Add the client verbs and the `cluster` group to the main `minik8s` app."""
    for name, command in _VERBS:
        main.command(name)(command)
    main.add_typer(cluster_app, name="cluster")


app = typer.Typer(help="minik8s client verbs.", no_args_is_help=True)
register(app)
