"""The thread helper: a long-lived thread that raises takes its process down loudly (exit 70)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from minik8s.api.threads import THREAD_DIED_EXIT_CODE


def _child(body: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def test_a_thread_that_raises_kills_the_process_with_its_traceback() -> None:
    """Variants: an unexpected exception; SystemExit (which would end only the thread); logging on or off."""
    for raised, setup in (("KeyError('boom-key')", "logging.basicConfig(level='INFO')"),
                          ("SystemExit(0)", "pass"),
                          ("ZeroDivisionError('boom-div')", "pass")):
        result = _child(f"""
            import logging, time
            from minik8s.api.threads import start_thread
            {setup}
            def loop():
                raise {raised}
            start_thread(loop, name="doomed-loop")
            time.sleep(20)  # the main thread would live on: the helper must end the process
            print("still alive")
        """)
        assert result.returncode == THREAD_DIED_EXIT_CODE, (raised, result)
        assert "still alive" not in result.stdout
        assert "doomed-loop" in result.stderr and "Traceback" in result.stderr, result.stderr
        assert raised.split("(")[0] in result.stderr


def test_a_thread_that_returns_or_catches_per_iteration_does_not() -> None:
    result = _child("""
        import threading
        from minik8s.api.threads import start_thread, thread
        count = []
        def survivor():
            for i in range(3):
                try:
                    raise ValueError(i)  # a transient failure, handled per iteration
                except ValueError:
                    count.append(i)
        started = [start_thread(survivor, name="survivor"), thread(lambda: None, name="quiet")]
        started[1].start()
        for t in started:
            t.join(10)
        print("done", len(count))
    """)
    assert result.returncode == 0, result
    assert result.stdout.strip() == "done 3"
