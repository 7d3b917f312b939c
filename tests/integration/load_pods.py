"""Containers that load a node in a known way, for metrics and autoscaling tests (process runtime).

They run `python3` on the host (the process runtime's way): `cpu_burner` keeps a duty cycle of one
core busy until a stop file appears, `memory_holder` keeps a buffer of the given size resident.
"""

from __future__ import annotations

import sys
from typing import Any

PY = sys.executable

_BURN = """
import os, sys, time
stop, duty = sys.argv[1], float(sys.argv[2])
while not os.path.exists(stop):
    t = time.monotonic()
    while time.monotonic() - t < duty * 0.05:
        pass
    time.sleep((1 - duty) * 0.05)
while True:
    time.sleep(1)
"""

_HOLD = """
import sys, time
buffer = bytearray(int(sys.argv[1]))
for i in range(0, len(buffer), 4096):
    buffer[i] = 1
while True:
    time.sleep(1)
"""


def cpu_burner(name: str, *, duty: float, stop_file: str, cpu_request: str) -> dict[str, Any]:
    """A container busy `duty` of one core's time (0.05 = ~50m) until `stop_file` exists."""
    return {"name": name, "image": "python", "command": [PY, "-c", _BURN, stop_file, str(duty)],
            "resources": {"requests": {"cpu": cpu_request}}}


def memory_holder(name: str, *, size: int, memory_request: str) -> dict[str, Any]:
    """A container keeping `size` bytes resident."""
    return {"name": name, "image": "python", "command": [PY, "-c", _HOLD, str(size)],
            "resources": {"requests": {"memory": memory_request, "cpu": "10m"}}}
