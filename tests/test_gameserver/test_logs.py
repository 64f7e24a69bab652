"""What `kubectl logs` shows of a room: in JSON mode every line is JSON with `level`,
and the address it announces is the one the server really listens on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import kubesandbox.kubelet.pod as sandbox_pod

POD_IP = "127.0.0.93"


class Output:
    """The lines a process writes, collected by a thread (no blocking reads in tests)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with self._lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if text in line:
                        return line
            time.sleep(0.02)
        raise AssertionError(f"no line with {text!r} within {timeout} s: {self.lines}")

    def finish(self, timeout: float = 10) -> list[str]:
        self._thread.join(timeout)
        return list(self.lines)


def pod_environment(tmp_path: Path) -> dict[str, str]:
    """The environment the sandbox kubelet gives a Pod: its socket shim on its own IP."""
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMESERVER_")}
    shim = str(sandbox_pod.SHIM_DIR)
    env["PYTHONPATH"] = shim + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["KUBESANDBOX_POD_IP"] = POD_IP
    env["KUBESANDBOX_HOSTS_FILE"] = str(hosts)
    env["KUBESANDBOX_NAMESPACE"] = "games"
    return env


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gameserver", "serve", "--log-format", "json", *args]
    return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        command,
        cwd=tmp_path,
        env=env or {k: v for k, v in os.environ.items() if not k.startswith("GAMESERVER_")},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def parse_all(lines: list[str]) -> list[dict[str, Any]]:
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"a line that is not JSON: {line!r}") from None
        assert isinstance(entry, dict) and "level" in entry, line
        assert "severity" not in entry, line
        entries.append(entry)
    return entries


def test_a_pod_logs_json_only_and_the_address_it_listens_on(tmp_path: Path) -> None:
    proc = serve(
        tmp_path,
        "--host", "0.0.0.0", "--port", "0", "--admin-port", "0",
        "--db", str(tmp_path / "room.db"), "--room-name", "friday",
        env=pod_environment(tmp_path),
    )  # fmt: skip
    output = Output(proc.stdout)  # type: ignore[arg-type]
    try:
        serving = json.loads(output.wait_for('"serving"'))
        url = serving["url"]
        assert url.startswith(f"http://{POD_IP}:"), serving
        assert serving["listen"].startswith(f"{POD_IP}:"), serving
        # The announced URL is where the room answers.
        with urllib.request.urlopen(url + "readyz", timeout=5) as resp:  # noqa: S310
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    entries = parse_all(output.finish())
    events = [e["event"] for e in entries]
    assert "serving" in events and "room_stopped" in events
    assert all(e["level"] in ("debug", "info", "warning", "error", "critical") for e in entries)


def test_a_failed_start_is_one_json_error_line(tmp_path: Path) -> None:
    (tmp_path / "room.yaml").write_text("game: {maxPlayers: 500}\n")
    proc = serve(tmp_path, "--config", str(tmp_path / "room.yaml"), "--port", "0")
    output = Output(proc.stdout)  # type: ignore[arg-type]
    assert proc.wait(timeout=20) == 2
    entries = parse_all(output.finish())
    assert [e["level"] for e in entries] == ["error"]
    assert "maxPlayers" in entries[0]["error"]
    # A database that cannot be opened: the same, after logging is set up.
    (tmp_path / "blocker").write_text("a file where a folder should be")
    proc = serve(
        tmp_path, "--db", str(tmp_path / "blocker" / "room.db"),
        "--port", "0", "--admin-port", "0",
    )  # fmt: skip
    output = Output(proc.stdout)  # type: ignore[arg-type]
    assert proc.wait(timeout=20) == 1
    entries = parse_all(output.finish())
    assert entries[-1]["level"] == "error" and "cannot start" in entries[-1]["error"]
