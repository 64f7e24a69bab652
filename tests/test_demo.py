"""`make demo` as a user runs it: a playable room, and nothing left running after a stop.

The stop is sent to the `make` process alone (as a supervisor or a terminal multiplexer
may do), not to the whole foreground process group as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _reader(stream: object, lines: queue.Queue[str]) -> None:
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        lines.put(raw.decode(errors="replace"))
    lines.put("")


def _wait_for_line(lines: queue.Queue[str], needle: str, deadline: float) -> str:
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line == "":
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"`make demo` never printed {needle!r}; it printed:\n{''.join(seen)}")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_make_demo_serves_a_room_and_stops_with_make(stop: signal.Signals) -> None:
    make = subprocess.Popen(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: the signal below reaches make alone
        # As from a terminal: SIGINT at its default. A parent that ignores it (a pytest-xdist
        # worker does) would pass that on, and make keeps ignoring a signal ignored at start.
        preexec_fn=_default_sigint,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(make.stdout, lines), daemon=True).start()
    family: list[psutil.Process] = []
    try:
        ready = _wait_for_line(lines, "the room is Ready: open ", time.monotonic() + 240)
        url = ready.split("open ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/health", timeout=10) as answer:
            assert answer.status == 200
        family = psutil.Process(make.pid).children(recursive=True)
        assert len(family) >= 3, "expected the demo, the sandbox and the operator"
        os.kill(make.pid, stop)
        make.wait(timeout=60)
        _, alive = psutil.wait_procs(family, timeout=90)
        assert not alive, f"still running after make stopped: {[p.cmdline() for p in alive]}"
        with pytest.raises(OSError):
            urllib.request.urlopen(url + "api/health", timeout=5)
    finally:
        for process in [*family, psutil.Process(make.pid)] if make.poll() is None else family:
            with contextlib.suppress(psutil.Error):
                process.kill()
