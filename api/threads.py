"""Long-lived threads that cannot die silently: one that raises takes its process down, loudly.

A thread that dies while its process lives on is the worst failure there is: the node agent
whose heartbeat thread died kept serving, its node went NotReady and every pod was evicted, and
nothing said why. So every long-lived thread (node agent loops, controller workers, informers,
leader election, the scheduler, the TLS front) is made by `thread()` / `start_thread()`: if its
function raises — anything, `SystemExit` included — the traceback is logged at CRITICAL and the
whole process exits with `THREAD_DIED_EXIT_CODE` (70, EX_SOFTWARE), so `minik8s up` or a
supervisor sees the death and can restart it.

Loops that must survive transient errors (an API call that fails, a peer that cannot be routed)
catch and log them per iteration themselves; what reaches this helper is a bug, and carrying on
without the thread would only hide it. A function that returns ends its thread normally.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

THREAD_DIED_EXIT_CODE = 70  # EX_SOFTWARE


def die(message: str) -> None:
    """Log `message` with the exception being handled (if any), flush, and exit the process at once."""
    try:
        text = f"{message}; exiting with code {THREAD_DIED_EXIT_CODE}"
        if logging.getLogger().handlers:
            log.critical("%s", text, exc_info=sys.exc_info()[0] is not None)
            for handler in logging.getLogger().handlers:
                handler.flush()
        else:  # logging not configured: stderr gets it anyway
            sys.stderr.write(f"CRITICAL {text}\n{traceback.format_exc() if sys.exc_info()[0] else ''}")
        sys.stderr.flush()
    finally:
        os._exit(THREAD_DIED_EXIT_CODE)


def _guarded(target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        target(*args, **kwargs)
    except BaseException:  # noqa: BLE001 - any death of a long-lived thread ends the process
        die(f"thread {threading.current_thread().name!r} died")


def thread(target: Callable[..., Any], *args: Any, name: str, daemon: bool = True, **kwargs: Any) -> threading.Thread:
    """A (not yet started) thread running `target(*args, **kwargs)`; if it raises, the process exits (70)."""
    return threading.Thread(target=_guarded, args=(target, args, kwargs), name=name, daemon=daemon)


def start_thread(target: Callable[..., Any], *args: Any, name: str, daemon: bool = True,
                 **kwargs: Any) -> threading.Thread:
    """`thread(...)`, started."""
    started = thread(target, *args, name=name, daemon=daemon, **kwargs)
    started.start()
    return started
