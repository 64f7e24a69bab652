"""The sandbox kubelet: one node, Pods as local processes (or virtual), podIPs 127.0.0.N."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import re
import shutil
import signal
from typing import Any
from urllib.parse import urlparse

import aiohttp
import structlog

from kubesandbox.config import SandboxConfig
from kubesandbox.controllers.client import (
    NODES,
    PODS,
    ApiError,
    ApiTransport,
    Informer,
)
from kubesandbox.controllers.common import fmt_time, utcnow
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.kubelet.pod import PodWorker
from kubesandbox.kubelet.volumes import pod_references

log = structlog.get_logger("kubesandbox.kubelet")
Obj = dict[str, Any]

FIRST_POD_IP = int(ipaddress.IPv4Address("127.0.0.10"))
LAST_POD_IP = int(ipaddress.IPv4Address("127.0.255.254"))


class IPAllocator:
    """Hands out pod addresses (127.0.0.10 up by default), skipping .0 and .255."""

    def __init__(self, first: int = FIRST_POD_IP, last: int = LAST_POD_IP) -> None:
        self.used: dict[str, str] = {}  # ip -> pod uid
        self.first = first
        self.last = last
        self._next = first

    def reserve(self, ip: str, uid: str) -> bool:
        owner = self.used.get(ip)
        if owner is not None and owner != uid:
            return False
        try:
            value = int(ipaddress.IPv4Address(ip))
        except ValueError:
            return False
        if not self.first <= value <= self.last:
            return False
        self.used[ip] = uid
        return True

    def allocate(self, uid: str) -> str:
        span = self.last - self.first + 1
        for _ in range(span):
            value = self._next
            self._next = self.first if value >= self.last else value + 1
            if value & 0xFF in (0, 255):
                continue
            ip = str(ipaddress.IPv4Address(value))
            if ip not in self.used:
                self.used[ip] = uid
                return ip
        raise RuntimeError("the sandbox node has no free pod addresses left")

    def release(self, ip: str, uid: str) -> None:
        if self.used.get(ip) == uid:
            del self.used[ip]


def service_env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


class Kubelet:
    def __init__(
        self,
        client: ApiTransport,
        config: SandboxConfig,
        *,
        pods: Informer,
        configmaps: Informer,
        secrets: Informer,
        pvcs: Informer,
        services: Informer,
        secure_port: int | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.pods = pods
        self.configmaps = configmaps
        self.secrets = secrets
        self.pvcs = pvcs
        self.services = services
        self.recorder = EventRecorder(client, "kubelet", config.node_name)
        self.scheduler_events = EventRecorder(client, "default-scheduler")
        slot = config.network_slot
        self.ips = (
            IPAllocator(int(slot.first_pod_ip), int(slot.last_pod_ip))
            if slot is not None
            else IPAllocator()
        )
        self.workers: dict[str, PodWorker] = {}
        # (configmap|secret|pvc, namespace, name) -> uids of the Pods that use it
        self.users: dict[tuple[str, str, str], set[str]] = {}
        self.terminating: dict[str, asyncio.Task[None]] = {}
        # Pods the scheduler part cannot place yet (uid -> (namespace, name))
        self.unschedulable: dict[str, tuple[str, str]] = {}
        self.pids: set[int] = set()
        self.hosts_file = config.network_dir / "hosts"
        parsed = urlparse(client.api_url)
        self.api_port = parsed.port or (443 if parsed.scheme == "https" else 80)
        # The API server's TLS port: KUBERNETES_SERVICE_PORT for in-cluster config.
        self.secure_port = secure_port or self.api_port
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ lookups

    def get_configmap(self, namespace: str, name: str) -> Obj | None:
        return self.configmaps.get(namespace, name)

    def get_secret(self, namespace: str, name: str) -> Obj | None:
        return self.secrets.get(namespace, name)

    def get_pvc(self, namespace: str, name: str) -> Obj | None:
        return self.pvcs.get(namespace, name)

    def service_env(self, namespace: str) -> dict[str, str]:
        """Docker-links style variables for the namespace's Services (enableServiceLinks)."""
        env: dict[str, str] = {}
        for svc in self.services.items(namespace):
            spec = svc.get("spec") or {}
            ip = spec.get("clusterIP")
            ports = spec.get("ports") or []
            if not ip or ip == "None" or not ports:
                continue
            prefix = service_env_name(svc["metadata"]["name"])
            env[f"{prefix}_SERVICE_HOST"] = ip
            env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
            for port in ports:
                proto = port.get("protocol", "TCP")
                num = port.get("port")
                if port.get("name"):
                    env[f"{prefix}_SERVICE_PORT_{service_env_name(port['name'])}"] = str(num)
                base = f"{prefix}_PORT_{num}_{proto}"
                env[base] = f"{proto.lower()}://{ip}:{num}"
                env[f"{base}_PROTO"] = proto.lower()
                env[f"{base}_PORT"] = str(num)
                env[f"{base}_ADDR"] = ip
            env[f"{prefix}_PORT"] = (
                f"{ports[0].get('protocol', 'TCP').lower()}://{ip}:{ports[0].get('port')}"
            )
        return env

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=True)
            )
        return self._http

    def track(self, pid: int) -> None:
        self.pids.add(pid)

    def untrack(self, pid: int) -> None:
        self.pids.discard(pid)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.config.pods_dir.mkdir(parents=True, exist_ok=True)
        self.config.network_dir.mkdir(parents=True, exist_ok=True)
        await self._register_node()
        self.pods.add_handler(self._on_pod)
        self.configmaps.add_handler(functools.partial(self._on_config, "configmap"))
        self.secrets.add_handler(functools.partial(self._on_config, "secret"))
        self.pvcs.add_handler(functools.partial(self._on_config, "pvc"))

    async def service_account_token(self, pod: Obj, source: Obj) -> bytes:
        """A TokenRequest bound to the Pod, as the kubelet makes for projected tokens."""
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        account = spec.get("serviceAccountName") or "default"
        body: Obj = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": int(source.get("expirationSeconds") or 3607),
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        if source.get("audience"):
            body["spec"]["audiences"] = [source["audience"]]
        answer = await self.client.create(
            f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", body
        )
        return str(answer["status"]["token"]).encode()

    async def _register_node(self) -> None:
        now = fmt_time(utcnow())
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.config.node_name,
                "labels": {
                    "kubernetes.io/hostname": self.config.node_name,
                    "kubernetes.io/os": "linux",
                    "node-role.kubernetes.io/control-plane": "",
                },
            },
            "spec": {},
        }
        status = {
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.config.node_name},
            ],
            "capacity": {"cpu": str(os.cpu_count() or 2), "memory": "8Gi", "pods": "65000"},
            "allocatable": {"cpu": str(os.cpu_count() or 2), "memory": "8Gi", "pods": "65000"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.0-sandbox",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "kubesandbox://1",
                "osImage": "kubesandbox",
                "kernelVersion": os.uname().release,
            },
        }
        try:
            try:
                await self.client.create(NODES.collection(), node)
            except ApiError as exc:
                if exc.status != 409:
                    raise
            await self.client.patch(
                NODES.item(None, self.config.node_name, "status"), {"status": status}
            )
        except (ApiError, aiohttp.ClientError) as exc:
            log.info("node not registered", error=str(exc))

    async def stop(self) -> None:
        """Stop every Pod's processes: SIGTERM, grace period (capped), SIGKILL."""
        cap = self.config.shutdown_grace_seconds
        workers = list(self.workers.values())
        await asyncio.gather(
            *(w.terminate(min(w._grace(), cap)) for w in workers), return_exceptions=True
        )
        for task in list(self.terminating.values()) + list(self._tasks):
            task.cancel()
        for pid in list(self.pids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self._http is not None:
            await self._http.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ events

    def _on_config(self, what: str, kind: str, obj: Obj, old: Obj | None) -> None:
        """A ConfigMap, Secret or PVC changed: wake (and refresh) only the Pods using it."""
        meta = obj["metadata"]
        uids = self.users.get((what, meta.get("namespace", ""), meta["name"]))
        for uid in list(uids or ()):
            worker = self.workers.get(uid)
            if worker is None:
                continue
            worker.wake()
            if kind == "MODIFIED" and what != "pvc":
                self._spawn(worker.refresh_volumes())

    def _index_refs(self, worker: PodWorker, add: bool) -> None:
        namespace = worker.namespace
        for what, name in pod_references(worker.pod):
            key = (what, namespace, name)
            if add:
                self.users.setdefault(key, set()).add(worker.uid)
            else:
                users = self.users.get(key)
                if users is not None:
                    users.discard(worker.uid)
                    if not users:
                        del self.users[key]

    def _rwop_holder(self, pod: Obj) -> bool:
        """Whether another scheduled Pod uses one of this Pod's ReadWriteOncePod claims."""
        ns = pod["metadata"].get("namespace", "")
        uid = pod["metadata"].get("uid", "")
        claims = {
            name
            for what, name in pod_references(pod)
            if what == "pvc"
            and "ReadWriteOncePod"
            in ((self.pvcs.get(ns, name) or {}).get("spec") or {}).get("accessModes", [])
        }
        return bool(claims) and any(
            other["metadata"].get("uid") != uid
            and (other.get("spec") or {}).get("nodeName")
            and (other.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and claims & {name for what, name in pod_references(other) if what == "pvc"}
            for other in self.pods.items(ns)
        )

    def _retry_unschedulable(self) -> None:
        for uid, (ns, name) in list(self.unschedulable.items()):
            pod = self.pods.get(ns, name)
            del self.unschedulable[uid]
            if pod is not None and pod["metadata"].get("uid") == uid:
                self._on_pod("MODIFIED", pod, None)

    async def _unschedulable(self, pod: Obj) -> None:
        message = (
            "0/1 nodes are available: 1 node has pod using PersistentVolumeClaim with the same "
            "name and ReadWriteOncePod access mode."
        )
        meta = pod["metadata"]
        with contextlib.suppress(ApiError):
            await self.client.patch(
                PODS.item(meta["namespace"], meta["name"], "status"),
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "False",
                                "reason": "Unschedulable",
                                "message": message,
                                "lastTransitionTime": fmt_time(utcnow()),
                            }
                        ]
                    }
                },
            )
        await self.scheduler_events.record(pod, "Warning", "FailedScheduling", message)

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        uid = pod["metadata"].get("uid", "")
        if self.unschedulable and (
            kind == "DELETED" or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        ):
            self._retry_unschedulable()
        if kind == "DELETED":
            self.unschedulable.pop(uid, None)
            worker = self.workers.pop(uid, None)
            if worker is not None and uid not in self.terminating:
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                self._spawn(self._stop_worker(worker, None if grace is None else float(grace)))
            return
        worker = self.workers.get(uid)
        if pod["metadata"].get("deletionTimestamp"):
            if uid not in self.terminating:
                self.terminating[uid] = asyncio.create_task(self._delete(pod, worker))
            return
        if worker is not None:
            worker.update_object(pod)
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node != self.config.node_name:
            return
        if not node and self._rwop_holder(pod):
            if uid not in self.unschedulable:
                self.unschedulable[uid] = (pod["metadata"]["namespace"], pod["metadata"]["name"])
                self._spawn(self._unschedulable(pod))
            return
        old_ip = (pod.get("status") or {}).get("podIP")
        ip = old_ip if old_ip and self.ips.reserve(old_ip, uid) else self.ips.allocate(uid)
        worker = PodWorker(self, pod, ip)
        self.workers[uid] = worker
        self._index_refs(worker, True)
        self._spawn(self._admit(worker, bound=bool(node)))

    async def _admit(self, worker: PodWorker, bound: bool) -> None:
        if not bound:
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": worker.name, "namespace": worker.namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.config.node_name},
            }
            try:
                await self.client.create(
                    PODS.item(worker.namespace, worker.name, "binding"), binding
                )
            except ApiError as exc:
                if exc.status == 404 and exc.reason == "NotFound" and "pods" in str(exc.body):
                    return
                log.debug("pod binding not accepted", pod=worker.name, error=str(exc))
            await self.scheduler_events.record(
                {"apiVersion": "v1", "kind": "Pod", "metadata": worker.pod["metadata"]},
                "Normal",
                "Scheduled",
                f"Successfully assigned {worker.namespace}/{worker.name} to "
                f"{self.config.node_name}",
            )
        if self.workers.get(worker.uid) is worker:
            worker.start()

    async def _stop_worker(self, worker: PodWorker, grace: float | None) -> None:
        try:
            await worker.terminate(grace)
        finally:
            self._index_refs(worker, False)
            self.ips.release(worker.pod_ip, worker.uid)
            await asyncio.to_thread(shutil.rmtree, worker.dir, True)

    async def _delete(self, pod: Obj, worker: PodWorker | None) -> None:
        meta = pod["metadata"]
        uid = meta.get("uid", "")
        try:
            if worker is not None:
                worker.update_object(pod)
                await worker.terminate()
                await worker.flush_status()
            body = {
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid},
            }
            try:
                await self.client.request(
                    "DELETE", PODS.item(meta.get("namespace"), meta["name"]), body=body
                )
            except ApiError as exc:
                if exc.status not in (404, 409):
                    log.warning("pod not deleted", pod=meta["name"], error=str(exc))
        finally:
            self.workers.pop(uid, None)
            self.terminating.pop(uid, None)
            if worker is not None:
                self._index_refs(worker, False)
                self.ips.release(worker.pod_ip, uid)
                await asyncio.to_thread(shutil.rmtree, worker.dir, True)

    async def write_status(self, worker: PodWorker, status: Obj) -> None:
        await self.client.patch(
            PODS.item(worker.namespace, worker.name, "status"), {"status": status}
        )
