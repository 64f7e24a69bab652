"""`python -m kubesandbox up|down|status`: run a local Kubernetes API, controllers and kubelet."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import structlog

from .apiserver import ApiServer
from .network.slots import claim_slot

log = structlog.get_logger("kubesandbox")


def runtime_pointer() -> Path:
    """Where `up` records the most recent sandbox, for `down`/`status` without --state-dir."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"kubesandbox-{os.getuid()}" / "current.json"


def configure_logging(level: str, fmt: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


async def run_up(args: argparse.Namespace) -> int:
    temporary = args.state_dir is None
    state_dir = _prepare_dir(args.state_dir)
    info_path = state_dir / "sandbox.json"
    if info_path.exists():
        other = _read_json(info_path)
        if other and _alive(int(other.get("pid", 0))):
            print(
                f"error: a sandbox (pid {other['pid']}) already runs with state dir "
                f"{state_dir}; stop it with `python -m kubesandbox down --state-dir "
                f"{state_dir}`",
                file=sys.stderr,
            )
            return 1
    # Signal handlers first, so that a SIGTERM during startup still cleans up.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Loopback address blocks of our own, so that other sandboxes on this machine
    # never hand out the same pod IPs or ClusterIPs.
    slot = claim_slot()
    server = ApiServer(
        state_dir=state_dir,
        persist=not temporary,
        host=args.host,
        port=0,
        secure_port=args.port,
        watch_history=args.watch_history,
        service_cidr=slot.service_cidr,
    )
    if args.config:
        from .config import load_faults

        server.faults = load_faults(Path(args.config))
    await server.start()
    kubeconfig = _write_kubeconfig(args.kubeconfig or state_dir / "kubeconfig", server.kubeconfig())
    manager = None
    if not args.no_controllers:
        try:
            from .config import SandboxConfig
            from .controllers import ControllerManager
        except ImportError as exc:  # the controllers part is optional at import time
            log.warning(
                "controllers.unavailable",
                error=str(exc),
                hint="only the API server runs; Deployments and Pods will not progress",
            )
        else:
            config = SandboxConfig.load(
                Path(args.config) if args.config else None,
                state_dir=state_dir,
                virtual_pods=args.virtual_pods,
            )
            config.network_slot = slot
            manager = ControllerManager(
                server.url,
                config,
                server=server,
                transport="http" if args.controllers_over_http else "local",
            )
            await manager.start()
    record = {
        "pid": os.getpid(),
        "url": server.url,
        "secureURL": server.secure_url,
        "kubeconfig": str(kubeconfig),
        "stateDir": str(state_dir),
        "temporary": temporary,
        "started": time.time(),
        "networkSlot": slot.index,
        "serviceCIDR": slot.service_cidr,
    }
    info_path.write_text(json.dumps(record))
    pointer = runtime_pointer()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(json.dumps(record))
    print(f"export KUBECONFIG={kubeconfig}")
    print(
        f"kubesandbox ready: API server {server.secure_url} (plain HTTP, bearer tokens "
        f"only: {server.url}), state {state_dir}"
        f"{' (temporary)' if temporary else ''}; Ctrl-C to stop",
        flush=True,
    )

    await stop.wait()
    log.info("sandbox.stopping")
    if manager is not None:
        try:
            await manager.stop()
        except Exception:
            log.exception("controllers.stop_failed")
    await server.stop()
    slot.release()
    with contextlib.suppress(OSError):
        info_path.unlink()
    if _read_json(pointer).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            pointer.unlink()
    if temporary:
        shutil.rmtree(state_dir, ignore_errors=True)
    log.info("sandbox.stopped")
    return 0


def _prepare_dir(wanted: str | None) -> Path:
    state_dir = Path(wanted or tempfile.mkdtemp(prefix="kubesandbox-")).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    return state_dir


def _write_kubeconfig(where: str | Path, text: str) -> Path:
    path = Path(where).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The admin token is cluster-admin: readable by this user only.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited child its parent has not reaped yet is a zombie, not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _find(args: argparse.Namespace) -> dict[str, Any]:
    if args.state_dir:
        return _read_json(Path(args.state_dir) / "sandbox.json")
    return _read_json(runtime_pointer())


def run_down(args: argparse.Namespace) -> int:
    record = _find(args)
    pid = int(record.get("pid", 0))
    if not record or not _alive(pid):
        where = f"state dir {args.state_dir}" if args.state_dir else "this user"
        print(f"no running sandbox found for {where}", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            print(f"kubesandbox (pid {pid}) stopped")
            return 0
        time.sleep(0.1)
    print(
        f"kubesandbox (pid {pid}) did not stop within {args.timeout:.0f}s; it is still "
        f"shutting down its pods, or send SIGKILL with `kill -9 {pid}`",
        file=sys.stderr,
    )
    return 1


def run_status(args: argparse.Namespace) -> int:
    record = _find(args)
    pid = int(record.get("pid", 0))
    if not record or not _alive(pid):
        print("kubesandbox: not running")
        return 3
    try:
        url = str(record["url"])
        if not url.startswith(("http://", "https://")):
            raise OSError(f"unexpected API server URL {url!r}")
        with urllib.request.urlopen(url + "/sandbox/v1/info", timeout=5) as resp:  # noqa: S310
            info = json.loads(resp.read())
    except OSError as exc:
        print(
            f"kubesandbox: process {pid} is alive but its API server at {record['url']} "
            f"does not answer ({exc})"
        )
        return 1
    print(f"kubesandbox: running (pid {pid})")
    print(f"  API server:  {record.get('secureURL', record['url'])} (plain HTTP: {record['url']})")
    print(f"  kubeconfig:  {record['kubeconfig']}  (export KUBECONFIG={record['kubeconfig']})")
    print(f"  state dir:   {record['stateDir']}{' (temporary)' if record.get('temporary') else ''}")
    print(
        f"  objects:     {info['objects']} at resourceVersion {info['resourceVersion']}, "
        f"{info['watchers']} open watches"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubesandbox", description=__doc__)
    p.add_argument("--log-level", default=os.environ.get("KUBESANDBOX_LOG_LEVEL", "info"))
    p.add_argument("--log-format", choices=("console", "json"), default="console")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox and stay in the foreground")
    up.add_argument(
        "--state-dir",
        help="keep objects, logs and volumes here (persistent); "
        "default: a temporary directory removed at shutdown",
    )
    up.add_argument("--port", type=int, default=6443, help="API server port (0: any free one)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument(
        "--kubeconfig", help="where to write the kubeconfig (default: STATE_DIR/kubeconfig)"
    )
    up.add_argument("--config", help="sandbox YAML config (image rules etc.)")
    up.add_argument(
        "--virtual-pods",
        action="store_true",
        help="mark every Pod Running/Ready without starting processes",
    )
    up.add_argument(
        "--no-controllers",
        action="store_true",
        help="run only the API server (no controllers, kubelet or proxy)",
    )
    up.add_argument(
        "--controllers-over-http",
        action="store_true",
        default=os.environ.get("KUBESANDBOX_CONTROLLERS_OVER_HTTP", "") not in ("", "0"),
        help="controllers, kubelet and proxy talk to the API server over loopback HTTP, like "
        "separate processes, instead of calling it in process (the default, much cheaper)",
    )
    up.add_argument(
        "--watch-history",
        type=int,
        default=50_000,
        help="watch events kept for resuming watches (older: 410 Gone)",
    )
    for name in ("down", "status"):
        s = sub.add_parser(name, help=f"{name} a sandbox started in the background")
        s.add_argument(
            "--state-dir",
            help="the sandbox's state dir (default: the last one started by this user)",
        )
        if name == "down":
            s.add_argument("--timeout", type=float, default=60.0)
    return p


def tune_gc() -> None:
    """Collect cyclic garbage less often, and never re-scan what start-up loaded.

    The store and the watch history hold millions of small objects, and every request
    allocates many short-lived ones: with Python's default threshold (700) the collector
    kept re-scanning the long-lived ones. Freezing moves everything imported so far (the
    OpenAPI schemas above all) out of every future collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 10)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    if args.command == "up":
        tune_gc()
        try:
            return asyncio.run(run_up(args))
        except OSError as exc:
            print(
                f"error: cannot start the API server on {args.host}:{args.port}: {exc}; "
                "pick another --port (0 picks a free one)",
                file=sys.stderr,
            )
            return 1
    if args.command == "down":
        return run_down(args)
    return run_status(args)


if __name__ == "__main__":
    sys.exit(main())
