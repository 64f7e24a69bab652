"""Container probes and lifecycle hooks: HTTP GET, TCP socket and exec."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
from dataclasses import dataclass
from typing import Any

import aiohttp

from kubesandbox.kubelet.lifeline import die_with_parent

Obj = dict[str, Any]


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class ProbeTiming:
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, probe: Obj) -> ProbeTiming:
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds", 0)),
            period=float(probe.get("periodSeconds", 10)),
            timeout=float(probe.get("timeoutSeconds", 1)),
            success_threshold=int(probe.get("successThreshold", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
        )


def resolve_port(port: object, container: Obj) -> int:
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for cport in container.get("ports") or []:
        if cport.get("name") == text:
            return int(cport["containerPort"])
    raise ValueError(f"port {text!r} is not a named port of container {container.get('name')}")


async def run_handler(
    handler: Obj,
    *,
    container: Obj,
    pod_ip: str,
    env: dict[str, str],
    cwd: pathlib.Path,
    limit: float,
    session: aiohttp.ClientSession,
) -> ProbeOutcome:
    """Run one probe or lifecycle handler (httpGet, tcpSocket, exec, grpc)."""
    try:
        if "httpGet" in handler:
            return await _http(handler["httpGet"], container, pod_ip, limit, session)
        if "tcpSocket" in handler:
            return await _tcp(handler["tcpSocket"], container, pod_ip, limit)
        if "grpc" in handler:
            # No gRPC health client here: a grpc probe checks that the port accepts.
            return await _tcp({"port": handler["grpc"].get("port")}, container, pod_ip, limit)
        if "exec" in handler:
            return await _exec(handler["exec"].get("command") or [], env, cwd, limit)
        if "sleep" in handler:
            await asyncio.sleep(float(handler["sleep"].get("seconds", 0)))
            return ProbeOutcome(True)
    except ValueError as exc:
        return ProbeOutcome(False, str(exc))
    return ProbeOutcome(False, "probe has no handler")


async def _http(
    spec: Obj, container: Obj, pod_ip: str, limit: float, session: aiohttp.ClientSession
) -> ProbeOutcome:
    port = resolve_port(spec.get("port"), container)
    host = spec.get("host") or pod_ip
    scheme = str(spec.get("scheme", "HTTP")).lower()
    path = spec.get("path", "/")
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {h["name"]: h.get("value", "") for h in spec.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.31")
    try:
        async with session.get(
            url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=limit),
            allow_redirects=False,
            ssl=False,
        ) as resp:
            body = await resp.content.read(10240)
            if 200 <= resp.status < 400:
                return ProbeOutcome(True)
            text = body.decode("utf-8", "replace")[:200]
            return ProbeOutcome(False, f"HTTP probe failed with statuscode: {resp.status} {text}")
    except TimeoutError:
        return ProbeOutcome(
            False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded)'
        )
    except (aiohttp.ClientError, OSError) as exc:
        return ProbeOutcome(False, f'Get "{url}": {exc}')


async def _tcp(spec: Obj, container: Obj, pod_ip: str, limit: float) -> ProbeOutcome:
    port = resolve_port(spec.get("port"), container)
    host = spec.get("host") or pod_ip
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except (TimeoutError, OSError) as exc:
        return ProbeOutcome(False, f"dial tcp {host}:{port}: {exc or 'i/o timeout'}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeOutcome(True)


async def _exec(
    command: list[str], env: dict[str, str], cwd: pathlib.Path, limit: float
) -> ProbeOutcome:
    if not command:
        return ProbeOutcome(False, "exec probe has an empty command")
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=str(cwd),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    except OSError as exc:
        return ProbeOutcome(False, f"exec {command[0]!r} failed: {exc}")
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return ProbeOutcome(False, f"command timed out after {limit:g}s")
    if proc.returncode == 0:
        return ProbeOutcome(True)
    text = (out or b"").decode("utf-8", "replace").strip()[:200]
    return ProbeOutcome(False, f"command exited with {proc.returncode}: {text}")


class ProbeCounter:
    """Consecutive success/failure counting against a probe's thresholds."""

    def __init__(self, timing: ProbeTiming, initial: bool) -> None:
        self.timing = timing
        self.result = initial
        self.successes = 0
        self.failures = 0

    def observe(self, ok: bool) -> bool:
        """Record one outcome; returns True when the thresholded result changed."""
        if ok:
            self.successes += 1
            self.failures = 0
            if not self.result and self.successes >= self.timing.success_threshold:
                self.result = True
                return True
        else:
            self.failures += 1
            self.successes = 0
            if self.result and self.failures >= self.timing.failure_threshold:
                self.result = False
                return True
        return False
