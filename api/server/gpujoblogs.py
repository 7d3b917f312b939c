"""`gpujobs/NAME/log`: a GpuJob's stdout or stderr, as the GPU job controller brought them back.

The controller keeps the tails of both (256 KiB each) in the job's output ConfigMap once the job
ended; before that the log is empty and a header says why. `?stream=stderr` gives stderr (stdout
by default); `tailLines=N` keeps the last N lines, as for pods.
"""

from __future__ import annotations

import falcon

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.api.kinds.gpujob import output_configmap_name

from .http import query_int
from .registry import Registry

_GPUJOBS, _CONFIGMAPS = resolve("gpujobs"), resolve("configmaps")
STREAMS = ("stdout", "stderr")


def serve_log(registry: Registry, req: falcon.Request, resp: falcon.Response, name: str,
              namespace: str | None) -> None:
    """Answer `GET .../gpujobs/NAME/log` with the job's output as text."""
    stream = req.get_param("stream") or "stdout"
    if stream not in STREAMS:
        raise errors.BadRequestError(f'stream must be one of {", ".join(STREAMS)}, not "{stream[:32]}"')
    tail = query_int(req, "tailLines", minimum=0)
    job = registry.get(_GPUJOBS, name, namespace)
    try:
        output = registry.get(_CONFIGMAPS, output_configmap_name(name), namespace)
    except errors.NotFoundError:
        output = None
    if output is None or (output["metadata"].get("ownerReferences") or [{}])[0].get("uid") != job["metadata"]["uid"]:
        phase = (job.get("status") or {}).get("phase") or "Pending"
        resp.set_header("X-Minik8s-Log", f"not brought back yet: the job is {phase}")
        text = ""
    else:
        text = (output.get("data") or {}).get(stream) or ""
    if tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail else ""
    resp.content_type = "text/plain; charset=utf-8"
    resp.data = text.encode("utf-8", "replace")
