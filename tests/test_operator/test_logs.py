"""The operator's log: in JSON mode every line is JSON with one `level` key, for our
own events and for Kopf's records alike (issue 9 item 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Runs in a fresh interpreter: logging is set up once per process, as the operator does.
PROGRAM = textwrap.dedent(
    """
    import logging, sys
    import kopf, structlog
    from kopf._core.actions.loggers import LocalObjectLogger, ObjectLogger

    # The operator's own start-up path, up to the point where Kopf would connect.
    kopf.run = lambda **_: None
    from gameroom_operator.__main__ import run
    from gameroom_operator.settings import from_args
    run(from_args(["--log-format", sys.argv[1], "--standalone"]))
    structlog.get_logger("gameroom_operator.test").error("ours_failed", room="friday")
    structlog.get_logger("gameroom_operator.test").info("ours_fine")
    body = {"apiVersion": "drawgame.dev/v1alpha1", "kind": "GameRoom",
            "metadata": {"name": "friday", "namespace": "games", "uid": "u1"}}
    settings = kopf.OperatorSettings()
    ObjectLogger(body=body, settings=settings).error("Handler 'reconcile' failed.")
    LocalObjectLogger(body=body, settings=settings).warning("Patching failed.")
    logging.getLogger("kopf.reactor.running").warning("Kopf warns about itself.")
    logging.getLogger("kopf.activities.startup").info("Startup handler succeeded.")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("kopf.objects").exception("Handler crashed.")
    """
)


def run(fmt: str) -> list[str]:
    env = dict(os.environ)
    done = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", PROGRAM, fmt],
        env=env,
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def test_every_line_is_json_with_level_for_ours_and_kopfs() -> None:
    lines = run("json")
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}\nall lines: {lines}") from None
    for entry in entries:
        assert "level" in entry and "severity" not in entry, entry
        assert entry["level"] in ("debug", "info", "warning", "error", "critical"), entry
    by_event = {e["event"]: e for e in entries}
    assert by_event["ours_failed"]["level"] == "error"
    kopf_error = by_event["Handler 'reconcile' failed."]
    assert kopf_error["level"] == "error"
    assert kopf_error["object"] == {"kind": "GameRoom", "namespace": "games", "name": "friday"}
    assert by_event["Patching failed."]["level"] == "warning"
    assert by_event["Kopf warns about itself."]["level"] == "warning"
    assert by_event["Startup handler succeeded."]["level"] == "info"
    crashed = by_event["Handler crashed."]
    assert crashed["level"] == "error" and "ZeroDivisionError" in crashed["exception"]
    errors = [e["event"] for e in entries if e["level"] == "error"]
    assert errors == ["ours_failed", "Handler 'reconcile' failed.", "Handler crashed."]


def test_console_format_is_readable_text() -> None:
    lines = run("console")
    assert any("Handler 'reconcile' failed." in line and "error" in line.lower() for line in lines)
    assert not any(line.startswith("{") for line in lines)
