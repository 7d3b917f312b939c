"""`chaos` commands (a typer sub-app): scenarios against a running `minik8s up` cluster, and chaos runs.

    minik8s chaos node-failure --data-dir DIR [--node 0] [--grace S] [--eviction S] [--no-restart]
    minik8s chaos run --duration S --seed N ...     masters only, history checkers (`chaos.run`)
    minik8s chaos partition --hold S --seed N       the leader alone in the minority (`chaos.partition`)
    minik8s chaos pods --duration S --seed N ...    pod churn on a new `minik8s up` (`chaos.pods`)

`node-failure` reads DIR/kubeconfig and DIR/cluster.json, runs `chaos.node_failure.run_node_failure`,
prints the report and exits 1 when `check` finds violated expectations (2 when the scenario could
not run). `--grace` and `--eviction` default to the values the cluster's masters were started with
(read from their command lines), else to `up`'s defaults. `run` and `pods` print their report,
write it with `--out DIR`, and exit 1 when a checker finds a violation.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import typer

from minik8s.api.client import ApiClient
from minik8s.api.failpoints import KNOWN as FAILPOINTS
from minik8s.api.kubeconfig import load_kubeconfig

from .nemesis import NEMESES
from .partition import run_leader_partition
from .node_failure import ScenarioError, check, default_restart, run_node_failure
from .pod_faults import POD_NEMESES
from .pods import PodRunSettings, run_pod_chaos
from .run import Report, RunSettings, run_chaos

STATE_FILE = "cluster.json"
KUBECONFIG_FILE = "kubeconfig"
DEFAULT_GRACE = 50.0  # `up --node-monitor-grace-period` default
DEFAULT_EVICTION = 300.0  # `up --pod-eviction-timeout` default

app = typer.Typer(name="chaos", help="Fault injection against a running `minik8s up` cluster.",
                  no_args_is_help=True, add_completion=False)


def load_cluster(data_dir: Path) -> tuple[ApiClient, dict[str, Any]]:
    """A client from DATA_DIR/kubeconfig and the state `up` recorded in DATA_DIR/cluster.json."""
    state_path, kubeconfig_path = data_dir / STATE_FILE, data_dir / KUBECONFIG_FILE
    if not state_path.exists() or not kubeconfig_path.exists():
        raise FileNotFoundError(f"no running `minik8s up` cluster in {data_dir} "
                                f"(need {STATE_FILE} and {KUBECONFIG_FILE})")
    config = load_kubeconfig(kubeconfig_path)
    client = ApiClient(config.servers, token=config.token, ca_file=config.ca_file)
    return client, json.loads(state_path.read_text())


def master_flag(state: dict[str, Any], flag: str) -> float | None:
    """The value of `flag` on the first live master's command line (from /proc), if any."""
    for pid in state.get("pids") or []:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
        except OSError:
            continue
        if flag in argv[:-1]:
            try:
                return float(argv[argv.index(flag) + 1])
            except ValueError:
                return None
    return None


def node_failure(
    data_dir: str = typer.Option(..., help="The data dir of a running `minik8s up` cluster."),
    node: int = typer.Option(0, help="Index of the node agent to kill (node-N)."),
    grace: float | None = typer.Option(None, help="Node monitor grace period in seconds "
                                                  "(default: the masters' --node-monitor-grace-period)."),
    eviction: float | None = typer.Option(None, help="Pod eviction timeout in seconds "
                                                     "(default: the masters' --pod-eviction-timeout)."),
    restart: bool = typer.Option(True, help="Restart the agent afterwards and wait for Ready."),
) -> None:
    """Kill -9 a node agent; check NotReady, pod eviction and recovery times."""
    root = Path(data_dir).absolute()
    try:
        client, state = load_cluster(root)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    grace = grace if grace is not None else master_flag(state, "--node-monitor-grace-period") or DEFAULT_GRACE
    eviction = eviction if eviction is not None else master_flag(state, "--pod-eviction-timeout") or DEFAULT_EVICTION
    typer.echo(f"node failure: node index {node}, grace {grace:g} s, eviction {eviction:g} s "
               f"(takes about {grace + eviction:.0f} s)")
    try:
        with client:
            report = run_node_failure(client, cluster_state=state, node_index=node, grace=grace, eviction=eviction,
                                      restart=default_restart(state, node, root) if restart else None)
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in report.lines():
        typer.echo(line)
    violations = check(report, grace, eviction)
    for violation in violations:
        typer.echo(f"VIOLATION: {violation}")
    if violations:
        raise typer.Exit(1)
    typer.echo("ok: all expectations met")


def chaos_run(
    duration: float = typer.Option(60.0, help="Seconds of faults and load."),
    seed: int = typer.Option(1, help="Seeds the faults and the operation mix (the report says which)."),
    masters: int = typer.Option(3, help="Masters (1, 3 or 5)."),
    clients: int = typer.Option(6, help="Register clients."),
    keys: int = typer.Option(3, help="ConfigMaps the clients read and write."),
    watchers: int = typer.Option(2, help="Long-poll watchers of the namespace."),
    nemesis: list[str] = typer.Option(list(NEMESES), help=f"Faults to draw from: {', '.join(NEMESES)}."),
    failpoint: list[str] = typer.Option([], help="Deliberate defects in the masters (self-test): "
                                                 f"{', '.join(sorted(FAILPOINTS))}."),
    out: Path | None = typer.Option(None, help="Write report.json and report.txt here."),
    keep: bool = typer.Option(False, help="Keep the masters' data and logs even when every check passes."),
    checker_budget: float | None = typer.Option(None, help="Seconds for the linearizability search before it says "
                                                           "'unknown' (default: half the duration, at least 30)."),
) -> None:
    """Start masters, run a recorded workload under seeded faults, then check the history.

    Checkers: per-key linearizability, the watch validator, durability and convergence (all
    members' store digests equal). Exits 1 when a checker finds a violation.
    """
    unknown_failpoints = [f for f in failpoint if f not in FAILPOINTS]
    _refuse(_run_problem(nemesis, NEMESES, masters, duration)
            or (f"unknown failpoint {', '.join(unknown_failpoints)}" if unknown_failpoints else None))
    typer.echo(f"chaos run: seed {seed}, {duration:g} s, {masters} masters, faults from {', '.join(nemesis)}",
               err=True)
    settings = RunSettings(duration=duration, seed=seed, masters=masters, clients=clients, keys=keys,
                           watchers=watchers, nemeses=tuple(nemesis), failpoints=tuple(failpoint), keep=keep,
                           checker_budget=checker_budget)
    _finish(run_chaos(settings), out)


def _run_problem(nemesis: list[str], known: Any, masters: int, duration: float) -> str | None:
    """What is wrong with the options every chaos run takes (None: nothing)."""
    unknown = [n for n in nemesis if n not in known]
    return (f"unknown nemesis {', '.join(unknown)}" if unknown
            else "--masters must be 1, 3 or 5" if masters not in (1, 3, 5)
            else "--duration must be positive" if duration <= 0 else None)


def _refuse(problem: str | None) -> None:
    """One line on stderr and exit code 1 when there is a problem."""
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1)


def _finish(report: Report, out: Path | None) -> None:
    """Print the report, write it under OUT, exit 1 when a checker failed."""
    text = report.text()
    typer.echo(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report.to_json(), indent=1, default=str))
        (out / "report.txt").write_text(text + "\n")
    if not report.ok:
        raise typer.Exit(1)


def chaos_partition(
    hold: float = typer.Option(12.0, help="Seconds the old leader stays cut off."),
    seed: int = typer.Option(1, help="Seeds the operation mix."),
    data_dir: Path | None = typer.Option(None, help="Where the masters' data and logs go (default: a new temp dir)."),
) -> None:
    """Cut the leader off from the other two masters (network namespaces, nftables drops).

    The old leader must acknowledge no write and refuse (or answer correctly) its linearizable
    reads; after healing, the whole history must be linearizable and the members converge.
    Exits 1 when a check fails.
    """
    _refuse("--hold must be positive" if hold <= 0 else None)
    root = data_dir or Path(tempfile.mkdtemp(prefix="minik8s-partition-"))
    report = run_leader_partition(root / "cluster", hold=hold, seed=seed)
    for event in report["timeline"]:
        typer.echo(f"{event['at']:8.2f}s  {event['what']}")
    for name, verdict in report["checks"].items():
        typer.echo(f"  {name:<16} {verdict['verdict']:<10} {verdict['summary']}")
        for example in verdict.get("examples", [])[:5]:
            typer.echo(f"      {example}")
    typer.echo(f"verdict: {'OK' if report['ok'] else 'FAILED'} ({report['elapsed']:.0f} s; data and logs: {root})")
    if not report["ok"]:
        raise typer.Exit(1)


def chaos_pods(
    duration: float = typer.Option(60.0, help="Seconds of pod churn and faults."),
    seed: int = typer.Option(1, help="Seeds the faults and the operation mix (the report says which)."),
    masters: int = typer.Option(3, help="Masters (1, 3 or 5)."),
    nodes: int = typer.Option(3, help="Node agents, each in a network namespace of its own."),
    clients: int = typer.Option(3, help="Clients creating and deleting bare pods and scaling the Deployment."),
    nemesis: list[str] = typer.Option(list(POD_NEMESES), help=f"Faults to draw from: {', '.join(POD_NEMESES)}."),
    out: Path | None = typer.Option(None, help="Write report.json and report.txt here."),
    keep: bool = typer.Option(False, help="Keep the cluster's data and logs even when every check passes."),
) -> None:
    """Start `minik8s up`, churn pods under seeded node-agent, link and master faults, then check the pods.

    Checkers: no pod runs on two nodes (or on one it is not bound to), and after healing the
    Deployment's replicas, the bare pods and what runs on the nodes converge to what the history
    leaves. Exits 1 when a checker finds a violation.
    """
    _refuse(_run_problem(nemesis, POD_NEMESES, masters, duration)
            or ("--nodes must be positive" if nodes < 1 else None))
    typer.echo(f"pod chaos run: seed {seed}, {duration:g} s, {masters} masters, {nodes} nodes, faults from "
               f"{', '.join(nemesis)}", err=True)
    _finish(run_pod_chaos(PodRunSettings(duration=duration, seed=seed, masters=masters, nodes=nodes, clients=clients,
                                         nemeses=tuple(nemesis), keep=keep)), out)


@app.callback()
def chaos() -> None:
    """Fault injection: seeded chaos runs with history checkers, and scenarios against `minik8s up`."""


app.command("node-failure")(node_failure)
app.command("run")(chaos_run)
app.command("partition")(chaos_partition)
app.command("pods")(chaos_pods)

if __name__ == "__main__":
    app()
