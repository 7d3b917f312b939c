"""The `minik8s` command: server verbs (`master`, `up`) and client verbs (`apply`, `get`, ...)."""

from __future__ import annotations

import typer

from minik8s.chaos.cli import app as chaos_app

from . import functions, gpujobs, localcluster, node, rollout, servers, workflows

app = typer.Typer(
    name="minik8s",
    help="A small Kubernetes-like orchestrator: Raft-replicated masters, a Kubernetes-shaped API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(help="Run one master: a Raft member of the store and an API server.")(servers.master)
app.command(help="Start a local cluster in the foreground (Ctrl-C stops it).")(localcluster.up)
app.command(help="Stop a cluster started by `up` and remove what it created.")(localcluster.down)
app.command(help="Run a node agent: register the Node, renew its Lease, run its pods.")(node.node)
app.add_typer(chaos_app, name="chaos")

try:
    from .client_verbs import register
except ImportError:  # pragma: no cover - during bring-up only
    register = None
if register is not None:
    register(app)
rollout.register(app)
functions.register(app)
workflows.register(app)
gpujobs.register(app)

if __name__ == "__main__":
    app()
