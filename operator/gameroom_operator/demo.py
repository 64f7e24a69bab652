"""`make demo`: kubesandbox + the operator + a playable room, on this machine, offline.

Starts the sandbox (`python -m kubesandbox up`), installs the CRD, starts the operator,
applies examples/gameroom.yaml, waits for the room to be Ready and prints where to play.
Ctrl-C stops the operator and the sandbox (which stops the room's processes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
ROOM = "friday-sketch"


def say(text: str) -> None:
    print(f"\033[1m==>\033[0m {text}", flush=True)


class Demo:
    def __init__(self, state_dir: Path, keep_state: bool) -> None:
        self.state_dir = state_dir
        self.keep_state = keep_state
        self.kubeconfig = state_dir / "kubeconfig"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    # ---- processes --------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        out = log.open("ab")
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
        )
        out.close()
        self.processes.append((name, process))
        return process

    def stop_all(self) -> None:
        for name, _ in reversed(self.processes):
            self.stop_named(name)

    def stop_named(self, name: str) -> None:
        """Stop the processes started under `name` (SIGINT, then SIGKILL after 30 s)."""
        for process_name, process in [p for p in self.processes if p[0] == name]:
            if process.poll() is None:
                say(f"stopping {process_name}")
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.processes.remove((process_name, process))

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed:\n{result.stderr.strip()}")
        return result

    def kubectl_apply(self, manifest: str) -> None:
        result = subprocess.run(
            [KUBECTL, f"--kubeconfig={self.kubeconfig}", "apply", "-f", "-"],
            input=manifest,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl apply failed:\n{result.stderr.strip()}")

    def wait(self, what: str, check: Callable[[], Any], timeout: float, log: Path) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with code {process.returncode} while waiting for {what}; "
                        f"see {log}"
                    )
            try:
                result = check()
            except (OSError, RuntimeError, ValueError):
                result = None
            if result:
                return result
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}; see {log}")

    # ---- steps ------------------------------------------------------------------------------

    def start_sandbox(self, virtual_pods: bool = False) -> None:
        log = self.state_dir / "kubesandbox.log"
        say(f"starting kubesandbox (state in {self.state_dir}, log {log})")
        argv = [
            sys.executable,
            "-m",
            "kubesandbox",
            "up",
            "--port",
            "0",
            "--state-dir",
            str(self.state_dir / "sandbox"),
            "--kubeconfig",
            str(self.kubeconfig),
        ]
        self.spawn("kubesandbox", [*argv, "--virtual-pods"] if virtual_pods else argv, log)
        self.wait(
            "the sandbox's API server",
            lambda: (
                self.kubeconfig.exists()
                and self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0
            ),
            90,
            log,
        )

    def install_crd(self) -> None:
        say("installing the GameRoom CRD")
        self.kubectl("apply", "-f", str(ROOT / "crds" / "gameroom.yaml"))
        self.kubectl(
            "wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s"
        )

    def start_operator(self) -> None:
        log = self.state_dir / "operator.log"
        say(f"starting the operator (log {log})")
        self.spawn(
            "the operator",
            [
                sys.executable,
                "-m",
                "gameroom_operator",
                "--standalone",
                "--kubeconfig",
                str(self.kubeconfig),
                "--log-format",
                "json",
                "--metrics-host",
                "127.0.0.1",
                "--probe-interval",
                "3",
            ],
            log,
        )

    def apply_room(self) -> dict[str, Any]:
        say("applying examples/gameroom.yaml")
        self.kubectl("apply", "-n", "default", "-f", str(ROOT / "examples" / "gameroom.yaml"))
        say("waiting for the room to be Ready")
        log = self.state_dir / "operator.log"

        def ready() -> dict[str, Any] | None:
            room = json.loads(self.kubectl("get", "gameroom", ROOM, "-o", "json").stdout)
            for condition in (room.get("status") or {}).get("conditions") or []:
                if condition["type"] == "Ready" and condition["status"] == "True":
                    return dict(room)
            return None

        return dict(self.wait(f"gameroom/{ROOM} to be Ready", ready, 180, log))

    def room_url(self) -> str:
        """A URL this machine's browser can open: the Service's address, else the Pod's."""
        service = json.loads(self.kubectl("get", "service", ROOM, "-o", "json").stdout)
        cluster_ip = service["spec"].get("clusterIP")
        port = service["spec"]["ports"][0]["port"]
        candidates = []
        if cluster_ip and cluster_ip != "None":
            candidates.append(
                f"http://{cluster_ip}:{port}/" if port != 80 else f"http://{cluster_ip}/"
            )
        pods = json.loads(
            self.kubectl(
                "get", "pods", "-l", f"app.kubernetes.io/instance={ROOM}", "-o", "json"
            ).stdout
        )["items"]
        for pod in pods:
            if (pod.get("status") or {}).get("podIP"):
                candidates.append(f"http://{pod['status']['podIP']}:8080/")
        errors: dict[str, str] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for url in candidates:
                try:
                    with urllib.request.urlopen(url + "api/room", timeout=3) as response:  # noqa: S310
                        if response.status == 200:
                            return url
                        errors[url] = f"HTTP {response.status}"
                except OSError as error:
                    errors[url] = str(error)
            time.sleep(0.5)
        raise RuntimeError(f"the room does not answer: {errors}")

    def run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_sandbox()
            self.install_crd()
            self.start_operator()
            room = self.apply_room()
            url = self.room_url()
            print()
            say(f"the room is Ready: open {url} and play (share it with players on this machine)")
            say(f"in-cluster URL: {room['status'].get('url')}")
            print()
            print("   In another terminal:")
            print(f"     export KUBECONFIG={self.kubeconfig}")
            print(f"     export PATH={Path(sys.executable).parent}:$PATH   # for kubectl")
            print("     kubectl get gamerooms -o wide")
            print(
                f"     kubectl patch gameroom {ROOM} --type merge "
                """-p '{"spec":{"maintenance":{"enabled":true,"message":"brb"}}}'"""
            )
            print()
            print(self.kubectl("get", "gamerooms", "-n", "default").stdout)
            say("press Ctrl-C to stop everything")
            while all(process.poll() is None for _, process in self.processes):
                time.sleep(0.5)
            dead = [name for name, process in self.processes if process.poll() is not None]
            say(f"{', '.join(dead)} stopped unexpectedly; see the logs in {self.state_dir}")
            return 1
        except KeyboardInterrupt:
            print()
            return 0
        except RuntimeError as error:
            say(f"demo failed: {error}")
            return 1
        finally:
            # Stopping has begun: a second stop signal (make's own death sends one through
            # PR_SET_PDEATHSIG, and a user may press Ctrl-C twice) must not cut the stop
            # short and leave the sandbox and the room running. Each stop is bounded anyway
            # (SIGKILL after 30 s).
            for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(stop_signal, signal.SIG_IGN)
            self.stop_all()
            if not self.keep_state:
                shutil.rmtree(self.state_dir, ignore_errors=True)
            say("everything is stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _follow_parent() -> None:
    """Stop when `make demo` itself is stopped by a signal sent to make alone (a supervisor
    or a terminal multiplexer may do that; Ctrl-C reaches the whole process group anyway).

    GNU make passes SIGTERM on to its children but not SIGINT or SIGHUP: for those it only
    resets its handler to the default and waits for the children, which never heard of it.
    So a thread watches the parent: gone (PR_SET_PDEATHSIG, then a check), or make's handler
    for SIGINT, SIGTERM or SIGHUP no longer caught, means stop. Linux only.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import threading

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: our parent's death sends us SIGTERM
    watched = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    # The stop signals make handles now (a shell starting it in the background ignores SIGINT).
    handled = watched & _caught_signals(parent) if _process_name(parent) == "make" else set()

    def watch() -> None:
        while True:
            if os.getppid() != parent or not handled <= _caught_signals(parent):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.5)

    threading.Thread(target=watch, name="follow-make", daemon=True).start()


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _caught_signals(pid: int) -> set[int]:
    """The signals `pid` has a handler for (SigCgt in /proc/PID/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                mask = int(line.split()[1], 16)
                return {number for number in range(1, 65) if mask >> (number - 1) & 1}
    except (OSError, ValueError):
        pass
    return set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gameroom_operator.demo", description=__doc__)
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the sandbox keeps its state and logs (default: a fresh temporary folder, "
        "removed at the end)",
    )
    args = parser.parse_args(argv)
    # `kill`, a closed terminal or a supervisor stop the demo as cleanly as Ctrl-C does:
    # the children run in their own sessions and would otherwise be left behind. SIGINT is
    # set explicitly because a shell starting the demo in the background ignores it.
    for stop_signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    _follow_parent()
    if args.state_dir:
        demo = Demo(args.state_dir.resolve(), keep_state=True)
    else:
        demo = Demo(Path(tempfile.mkdtemp(prefix="gameroom-demo-")), keep_state=False)
    return demo.run()


if __name__ == "__main__":
    sys.exit(main())
