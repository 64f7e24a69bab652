"""One Pod on the sandbox node: its containers as local processes, probes and status.

A PodWorker runs init containers in order, then the regular containers side by side,
each under a supervisor that applies the restartPolicy with CrashLoopBackOff, runs the
startup/liveness/readiness probes and writes the container's output to its log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from kubesandbox.controllers.client import ApiError
from kubesandbox.controllers.common import fmt_time, utcnow
from kubesandbox.kubelet.env import ContainerConfigError, build_env, command_line
from kubesandbox.kubelet.lifeline import die_with_parent
from kubesandbox.kubelet.probes import ProbeCounter, ProbeTiming, run_handler
from kubesandbox.kubelet.status import (
    ContainerView,
    backoff_delay,
    pod_status,
    should_restart,
)
from kubesandbox.kubelet.volumes import (
    materialize_volumes,
    mount_map,
    rewrite_path,
    token_key,
    token_sources,
)

if TYPE_CHECKING:
    from kubesandbox.kubelet import Kubelet

log = structlog.get_logger("kubesandbox.kubelet")
Obj = dict[str, Any]

SHIM_DIR = pathlib.Path(__file__).resolve().parent.parent / "network" / "shim"
VIRTUAL_ANNOTATION = "kubesandbox.dev/virtual"


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj, pod_ip: str) -> None:
        self.kubelet = kubelet
        self.pod = pod
        self.pod_ip = pod_ip
        meta = pod["metadata"]
        self.namespace: str = meta.get("namespace", "default")
        self.name: str = meta["name"]
        self.uid: str = meta.get("uid", "")
        spec = pod.get("spec") or {}
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.dir = kubelet.config.pods_dir / self.namespace / self.name
        old = pod.get("status") or {}
        self.start_time: str = old.get("startTime") or fmt_time(utcnow())
        previous = {c["name"]: c for c in old.get("containerStatuses") or []}
        previous.update({c["name"]: c for c in old.get("initContainerStatuses") or []})
        self.init = [self._view(c, True, previous) for c in spec.get("initContainers") or []]
        self.main = [self._view(c, False, previous) for c in spec.get("containers") or []]
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.mounts: dict[str, dict[str, pathlib.Path]] = {}
        self.kill_reason: dict[str, str] = {}
        self.stopping = False
        self.volumes: dict[str, pathlib.Path] = {}
        # Projected ServiceAccount tokens, by their source (asked for once per Pod)
        self.tokens: dict[str, bytes] = {}
        self.reason: str | None = None
        self.message: str | None = None
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake = asyncio.Event()
        self._last_sent: str = ""
        self.virtual = self._is_virtual()

    def _view(self, container: Obj, init: bool, previous: dict[str, Obj]) -> ContainerView:
        view = ContainerView(name=container["name"], image=container.get("image", ""), init=init)
        old = previous.get(container["name"])
        if old:
            view.restart_count = int(old.get("restartCount", 0))
            view.last_state = old.get("lastState") or {}
            # A finished init container stays finished across a sandbox restart.
            term = (old.get("state") or {}).get("terminated")
            if init and term and term.get("exitCode") == 0:
                view.state = {"terminated": term}
                view.done = True
            running = (old.get("state") or {}).get("running")
            if running and str(old.get("containerID", "")).startswith("sandbox://"):
                # Its process went with the previous sandbox run (a node reboot).
                view.restart_count += 1
                view.last_state = {
                    "terminated": {
                        "exitCode": 255,
                        "reason": "Unknown",
                        "startedAt": running.get("startedAt"),
                        "finishedAt": fmt_time(utcnow()),
                    }
                }
        return view

    # ------------------------------------------------------------ plumbing

    def _is_virtual(self) -> bool:
        annotations = (self.pod.get("metadata") or {}).get("annotations") or {}
        if annotations.get(VIRTUAL_ANNOTATION) in ("true", "1", "yes"):
            return True
        return self.kubelet.config.virtual_pods

    def spec_of(self, name: str) -> Obj:
        spec = self.pod.get("spec") or {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if c["name"] == name:
                return dict(c)
        raise KeyError(name)

    def changed(self) -> None:
        self._dirty.set()

    def wake(self) -> None:
        """Something the Pod depends on (a ConfigMap, Secret or PVC) changed."""
        self._wake.set()

    def update_object(self, pod: Obj) -> None:
        self.pod = pod

    async def refresh_volumes(self) -> None:
        """Rewrite ConfigMap/Secret volume contents after a change, as the kubelet syncs them."""
        if self.virtual or not self.volumes:
            return
        with contextlib.suppress(ContainerConfigError, OSError):
            self.volumes = await self._materialize_volumes()

    async def _materialize_volumes(self) -> dict[str, pathlib.Path]:
        """Write the Pod's volumes to real directories (off the event loop)."""
        for source in token_sources(self.pod):
            key = token_key(source)
            if key not in self.tokens:
                try:
                    self.tokens[key] = await self.kubelet.service_account_token(self.pod, source)
                except ApiError as exc:
                    raise ContainerConfigError(
                        f"failed to fetch token: {exc.reason}: {exc.body}"
                    ) from exc
        return await asyncio.to_thread(
            materialize_volumes,
            self.pod,
            self.dir,
            state_dir=self.kubelet.config.state_dir,
            pvc_root=self.kubelet.config.pvc_dir,
            get_configmap=self.kubelet.get_configmap,
            get_secret=self.kubelet.get_secret,
            get_pvc=self.kubelet.get_pvc,
            tokens=self.tokens,
        )

    async def event(self, type_: str, reason: str, message: str, container: str = "") -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": self.pod["metadata"],
        }
        if container:
            obj = {**obj, "fieldPath": f"spec.containers{{{container}}}"}
        await self.kubelet.recorder.record(obj, type_, reason, message)

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._status_writer(), name=f"status-{self.name}"))
        self._tasks.append(asyncio.create_task(self._run(), name=f"pod-{self.name}"))

    # ------------------------------------------------------------ status

    def current_status(self) -> Obj:
        return pod_status(
            self.pod.get("status") or {},
            init=self.init,
            main=self.main,
            restart_policy=self.restart_policy,
            pod_ip=self.pod_ip,
            host_ip="127.0.0.1",
            start_time=self.start_time,
            now=fmt_time(utcnow()),
            reason=self.reason,
            message=self.message,
            containers=[
                *((self.pod.get("spec") or {}).get("initContainers") or []),
                *((self.pod.get("spec") or {}).get("containers") or []),
            ],
        )

    async def _status_writer(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self.flush_status()
            await asyncio.sleep(0.02)  # coalesce bursts of changes into one write

    async def flush_status(self) -> None:
        status = self.current_status()
        comparable = json.dumps(
            {k: v for k, v in status.items() if k != "conditions"}, sort_keys=True
        ) + json.dumps([(c["type"], c["status"]) for c in status["conditions"]])
        if comparable == self._last_sent:
            return
        try:
            await self.kubelet.write_status(self, status)
            self._last_sent = comparable
        except Exception as exc:  # the pod may be gone; the kubelet sees the deletion
            log.debug("pod status not written", pod=self.name, error=str(exc))

    # ------------------------------------------------------------ lifecycle

    async def _run(self) -> None:
        try:
            if self.virtual:
                await self._run_virtual()
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            if not await self._prepare_volumes():
                return
            for view in self.init:
                if view.done:
                    continue
                ok = await self._supervise(view)
                if not ok:
                    self.changed()
                    return
            await asyncio.gather(*(self._supervise(v) for v in self.main))
            self.changed()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod worker crashed", pod=self.name, namespace=self.namespace)

    async def _run_virtual(self) -> None:
        now = fmt_time(utcnow())
        for view in self.init:
            view.state = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": now,
                    "finishedAt": now,
                }
            }
            view.done = True
        for view in self.main:
            view.state = {"running": {"startedAt": now}}
            view.started = True
            view.ready = True
            view.container_id = f"virtual://{self.uid[:12]}-{view.name}"
        await self.flush_status()

    async def _prepare_volumes(self) -> bool:
        delay = 1.0
        while not self.stopping:
            try:
                self.volumes = await self._materialize_volumes()
                return True
            except ContainerConfigError as exc:
                for view in [*self.init, *self.main]:
                    view.state = {"waiting": {"reason": "ContainerCreating", "message": str(exc)}}
                self.changed()
                await self.event("Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}")
                await self._sleep_or_wake(delay)
                delay = min(delay * 2, 30.0)
        return False

    async def _sleep_or_wake(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _process_spec(self, container: Obj) -> tuple[list[str], dict[str, str], pathlib.Path]:
        config = self.kubelet.config
        rule = config.rule_for(container.get("image", ""))
        base = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOSTNAME": self.name,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(self.dir / "home"),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.kubelet.secure_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.kubelet.secure_port),
        }
        base.update(self.kubelet.service_env(self.namespace))
        if rule is not None:
            base.update(dict(rule.env))
            if rule.version_env:
                base[rule.version_env] = rule.image_tag(container.get("image", ""))
        # status.podIP and friends are known to the kubelet before they reach the API.
        status = {
            **(self.pod.get("status") or {}),
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
        }
        spec = {"nodeName": self.kubelet.config.node_name, **(self.pod.get("spec") or {})}
        view = {**self.pod, "spec": spec, "status": status}
        env = build_env(view, container, self.kubelet.get_configmap, self.kubelet.get_secret, base)
        default_command = rule.default_command if rule else ()
        argv = command_line(container, env, default_command)
        mounts = mount_map(container, self.volumes)
        self.mounts[container["name"]] = mounts
        argv = [rewrite_path(a, mounts) for a in argv]
        # Container paths become the Pod's directories; an image rule's own env (sandbox
        # configuration naming paths on this machine) is taken as written.
        literal = dict(rule.env) if rule is not None else {}
        env = {k: v if literal.get(k) == v else rewrite_path(v, mounts) for k, v in env.items()}
        if argv and argv[0] in ("python", "python3"):
            argv[0] = config.python_executable
        root = self.dir / "rootfs" / container["name"]
        workdir = container.get("workingDir")
        if workdir:
            mapped = rewrite_path(workdir, mounts)
            cwd = pathlib.Path(mapped) if mapped != workdir else root / workdir.lstrip("/")
        else:
            cwd = root
        cwd.mkdir(parents=True, exist_ok=True)
        (self.dir / "home").mkdir(parents=True, exist_ok=True)
        # The network shim: binds to the pod IP, service names resolve to ClusterIPs.
        shim = str(SHIM_DIR)
        env["PYTHONPATH"] = shim + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["KUBESANDBOX_POD_IP"] = self.pod_ip
        env["KUBESANDBOX_NAMESPACE"] = self.namespace
        env["KUBESANDBOX_HOSTS_FILE"] = str(self.kubelet.hosts_file)
        # The API server stays reachable at 127.0.0.1 from inside the pod.
        env["KUBESANDBOX_HOST_PORTS"] = f"{self.kubelet.api_port},{self.kubelet.secure_port}"
        env["KUBESANDBOX_MOUNTS"] = json.dumps({k: str(v) for k, v in mounts.items()})
        return argv, env, cwd

    def _mode(self, image: str) -> str:
        rule = self.kubelet.config.rule_for(image)
        return rule.mode if rule else self.kubelet.config.unmatched_image_mode

    async def _supervise(self, view: ContainerView) -> bool:
        """Run one container until it stops for good; True when it ended successfully."""
        container = self.spec_of(view.name)
        mode = self._mode(container.get("image", ""))
        if mode == "virtual":
            now = fmt_time(utcnow())
            if view.init:
                view.state = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": now,
                        "finishedAt": now,
                    }
                }
                view.done = True
            else:
                view.state = {"running": {"startedAt": now}}
                view.started = view.ready = True
                view.container_id = f"virtual://{self.uid[:12]}-{view.name}"
                await self.event("Normal", "Started", f"Started container {view.name}", view.name)
            self.changed()
            return True
        if mode == "fail":
            image = container.get("image", "")
            message = f'Failed to pull image "{image}": the sandbox has no rule to run this image'
            view.state = {"waiting": {"reason": "ErrImagePull", "message": message}}
            self.changed()
            await self.event("Warning", "Failed", message, view.name)
            while not self.stopping:
                await self._sleep_or_wake(3600)
            return False
        policy = (
            "OnFailure" if view.init and self.restart_policy == "Always" else self.restart_policy
        )
        in_a_row = 0
        first = True
        while not self.stopping:
            try:
                argv, env, cwd = self._process_spec(container)
            except ContainerConfigError as exc:
                view.state = {
                    "waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}
                }
                self.changed()
                await self.event("Warning", "Failed", f"Error: {exc}", view.name)
                await self._sleep_or_wake(2.0)
                continue
            if first:
                await self.event(
                    "Normal",
                    "Pulled",
                    f'Container image "{container.get("image")}" already present on machine',
                    view.name,
                )
                first = False
            started_mono = time.monotonic()
            code, reason, message, started_at = await self._run_once(
                view, container, argv, env, cwd
            )
            if self.stopping:
                return code == 0
            ran_for = time.monotonic() - started_mono
            if ran_for >= self.kubelet.config.backoff_reset_seconds:
                in_a_row = 0
            terminated = {
                "exitCode": code,
                "reason": reason,
                "startedAt": started_at,
                "finishedAt": fmt_time(utcnow()),
                "containerID": view.container_id,
            }
            if message:
                terminated["message"] = message
            view.ready = False
            view.started = False
            if not should_restart(policy, code):
                view.state = {"terminated": terminated}
                view.done = True
                self.changed()
                return code == 0
            view.last_state = {"terminated": terminated}
            in_a_row += 1
            delay = backoff_delay(
                in_a_row - 1,
                self.kubelet.config.backoff_base_seconds,
                self.kubelet.config.backoff_max_seconds,
            )
            if delay > 0:
                view.state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": (
                            f"back-off {delay:g}s restarting failed container={view.name} "
                            f"pod={self.name}_{self.namespace}({self.uid})"
                        ),
                    }
                }
                self.changed()
                await self.event(
                    "Warning", "BackOff", "Back-off restarting failed container", view.name
                )
                await asyncio.sleep(delay)
            view.restart_count += 1
        return False

    async def _run_once(
        self,
        view: ContainerView,
        container: Obj,
        argv: list[str],
        env: dict[str, str],
        cwd: pathlib.Path,
    ) -> tuple[int, str, str, str]:
        """Start the process, probe it and wait for it; (exitCode, reason, message, startedAt)."""
        config = self.kubelet.config
        log_path = config.log_path(self.namespace, self.name, view.name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if log_path.exists() and (view.restart_count > 0 or view.last_state):
            shutil.move(str(log_path), str(log_path.with_name(f"{view.name}.previous.log")))
        started_at = fmt_time(utcnow())
        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=env,
                cwd=str(cwd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        except OSError as exc:
            message = f"failed to start container process {argv[0]!r}: {exc}"
            os.write(out, f"{message}\n".encode())
            await self.event("Warning", "Failed", f"Error: {message}", view.name)
            return 128, "StartError", message, started_at
        finally:
            os.close(out)
        self.procs[view.name] = proc
        self.kubelet.track(proc.pid)
        view.container_id = f"sandbox://{self.uid[:12]}-{view.name}-{proc.pid}"
        view.state = {"running": {"startedAt": started_at}}
        await self.event("Normal", "Created", f"Created container {view.name}", view.name)
        await self.event("Normal", "Started", f"Started container {view.name}", view.name)
        probes = asyncio.create_task(self._probe(view, container, env, cwd, proc))
        if not container.get("startupProbe"):
            view.started = True
            if not container.get("readinessProbe") and not view.init:
                view.ready = True
        self.changed()
        await self._post_start(view, container, env, cwd, proc)
        try:
            code = await proc.wait()
        finally:
            probes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probes
            self.procs.pop(view.name, None)
            self.kubelet.untrack(proc.pid)
        signalled = code < 0
        exit_code = 128 - code if signalled else code
        reason = "Completed" if exit_code == 0 else "Error"
        message = self.kill_reason.pop(view.name, "")
        return exit_code, reason, message, started_at

    async def _post_start(
        self,
        view: ContainerView,
        container: Obj,
        env: dict[str, str],
        cwd: pathlib.Path,
        proc: asyncio.subprocess.Process,
    ) -> None:
        hook = (container.get("lifecycle") or {}).get("postStart")
        if not hook:
            return
        outcome = await run_handler(
            self._local(hook, container),
            container=container,
            pod_ip=self.pod_ip,
            env=env,
            cwd=cwd,
            limit=30.0,
            session=self.kubelet.http,
        )
        if not outcome.ok:
            await self.event(
                "Warning",
                "FailedPostStartHook",
                f"PostStartHook failed: {outcome.message}",
                view.name,
            )
            await self._kill(proc, self._grace(), view, container, "FailedPostStartHook")

    async def _probe(
        self,
        view: ContainerView,
        container: Obj,
        env: dict[str, str],
        cwd: pathlib.Path,
        proc: asyncio.subprocess.Process,
    ) -> None:
        startup = container.get("startupProbe")
        liveness = container.get("livenessProbe")
        readiness = container.get("readinessProbe")

        async def check(probe: Obj, timing: ProbeTiming) -> tuple[bool, str]:
            outcome = await run_handler(
                self._local(probe, container),
                container=container,
                pod_ip=self.pod_ip,
                env=env,
                cwd=cwd,
                limit=timing.timeout,
                session=self.kubelet.http,
            )
            return outcome.ok, outcome.message

        if startup:
            timing = ProbeTiming.of(startup)
            await asyncio.sleep(timing.initial_delay)
            failures = 0
            while True:
                ok, message = await check(startup, timing)
                if ok:
                    break
                failures += 1
                await self.event(
                    "Warning", "Unhealthy", f"Startup probe failed: {message}", view.name
                )
                if failures >= timing.failure_threshold:
                    await self.event(
                        "Normal",
                        "Killing",
                        f"Container {view.name} failed startup probe, will be restarted",
                        view.name,
                    )
                    await self._kill(proc, self._grace(), view, container, "StartupProbe")
                    return
                await asyncio.sleep(timing.period)
            view.started = True
            if not readiness:
                view.ready = True
            self.changed()

        async def live() -> None:
            assert liveness is not None
            timing = ProbeTiming.of(liveness)
            counter = ProbeCounter(timing, initial=True)
            await asyncio.sleep(timing.initial_delay)
            while True:
                ok, message = await check(liveness, timing)
                if not ok:
                    await self.event(
                        "Warning", "Unhealthy", f"Liveness probe failed: {message}", view.name
                    )
                if counter.observe(ok) and not counter.result:
                    await self.event(
                        "Normal",
                        "Killing",
                        f"Container {view.name} failed liveness probe, will be restarted",
                        view.name,
                    )
                    await self._kill(proc, self._grace(), view, container, "LivenessProbe")
                    return
                await asyncio.sleep(timing.period)

        async def ready() -> None:
            assert readiness is not None
            timing = ProbeTiming.of(readiness)
            counter = ProbeCounter(timing, initial=False)
            counter.failures = 0
            await asyncio.sleep(timing.initial_delay)
            while True:
                ok, message = await check(readiness, timing)
                if not ok:
                    await self.event(
                        "Warning", "Unhealthy", f"Readiness probe failed: {message}", view.name
                    )
                if counter.observe(ok) or view.ready != counter.result:
                    view.ready = counter.result
                    self.changed()
                await asyncio.sleep(timing.period)

        jobs = []
        if liveness:
            jobs.append(live())
        if readiness and not view.init:
            jobs.append(ready())
        if jobs:
            await asyncio.gather(*jobs)

    def _local(self, handler: Obj, container: Obj) -> Obj:
        """An exec handler's command as it runs here: mount paths mapped, python ours."""
        if "exec" not in handler:
            return handler
        mounts = self.mounts.get(container["name"], {})
        command = [rewrite_path(str(a), mounts) for a in handler["exec"].get("command") or []]
        if command and command[0] in ("python", "python3"):
            command[0] = self.kubelet.config.python_executable
        return {**handler, "exec": {**handler["exec"], "command": command}}

    def _grace(self) -> float:
        meta = self.pod.get("metadata") or {}
        if meta.get("deletionGracePeriodSeconds") is not None:
            return float(meta["deletionGracePeriodSeconds"])
        return float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    async def _kill(
        self,
        proc: asyncio.subprocess.Process,
        grace: float,
        view: ContainerView,
        container: Obj,
        reason: str,
    ) -> None:
        """preStop hook, SIGTERM to the process group, then SIGKILL after the grace period."""
        if proc.returncode is not None:
            return
        self.kill_reason.setdefault(view.name, reason)
        deadline = time.monotonic() + grace
        hook = (container.get("lifecycle") or {}).get("preStop")
        if hook and grace > 0:
            try:
                _, env, cwd = self._process_spec(container)
            except ContainerConfigError:
                env, cwd = {}, self.dir
            try:
                outcome = await asyncio.wait_for(
                    run_handler(
                        self._local(hook, container),
                        container=container,
                        pod_ip=self.pod_ip,
                        env=env,
                        cwd=cwd,
                        limit=grace,
                        session=self.kubelet.http,
                    ),
                    grace,
                )
                if not outcome.ok:
                    await self.event(
                        "Warning",
                        "FailedPreStopHook",
                        f"PreStopHook failed: {outcome.message}",
                        view.name,
                    )
            except TimeoutError:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        remaining = max(0.0, deadline - time.monotonic())
        try:
            await asyncio.wait_for(proc.wait(), remaining)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        # Orphans of the container (same process group) go with it, as in a PID namespace.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    async def terminate(self, grace: float | None = None) -> None:
        """Stop every container (preStop, SIGTERM, grace period, SIGKILL) and the worker."""
        self.stopping = True
        self._wake.set()
        grace = self._grace() if grace is None else grace
        kills = []
        for name, proc in list(self.procs.items()):
            container = self.spec_of(name)
            view = next(v for v in [*self.init, *self.main] if v.name == name)
            if not self.virtual:
                await self.event("Normal", "Killing", f"Stopping container {name}", name)
            kills.append(self._kill(proc, grace, view, container, ""))
        await asyncio.gather(*kills, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        now = fmt_time(utcnow())
        for view in self.main:
            if view.running:
                view.state = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": view.state["running"].get("startedAt", now),
                        "finishedAt": now,
                    }
                }
                view.ready = False

    def has_processes(self) -> bool:
        return bool(self.procs)


StatusWriter = Callable[[PodWorker, Obj], Awaitable[None]]
