"""The sandbox's kube-controller-manager, kubelet and kube-proxy in one object.

Everything here is a client of the API server: list+watch into informers, writes through
the API. ``ControllerManager(api_url, config, server=server)`` is what ``kubesandbox up``
starts after the API server: given the ``ApiServer`` of the same process, the controllers
call its core directly (``LocalClient``, no loopback HTTP); without it, or with
``transport="http"``, they use HTTP (``ApiClient``) like separate processes would.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from typing import TYPE_CHECKING, Literal

import structlog

from kubesandbox.config import SandboxConfig
from kubesandbox.controllers.client import (
    CONFIGMAPS,
    CRONJOBS,
    DEPLOYMENTS,
    ENDPOINTS,
    ENDPOINTSLICES,
    JOBS,
    PODS,
    PVCS,
    REPLICASETS,
    SECRETS,
    SERVICES,
    ApiClient,
    ApiTransport,
    Informer,
    WorkQueue,
)
from kubesandbox.controllers.deployment import DeploymentController
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.controllers.jobs import CronJobController, JobController
from kubesandbox.controllers.local import FieldValidation, LocalClient
from kubesandbox.controllers.replicaset import ReplicaSetController
from kubesandbox.controllers.services import EndpointsController
from kubesandbox.controllers.storage import PersistentVolumeController
from kubesandbox.network.slots import NetworkSlot, claim_slot

if TYPE_CHECKING:
    from kubesandbox.apiserver.server import ApiServer

log = structlog.get_logger("kubesandbox.controllers")

__all__ = ["ControllerManager", "Transport"]

Transport = Literal["auto", "local", "http"]


class ControllerManager:
    """Runs the controllers, the kubelet and the network pieces against one API server."""

    def __init__(
        self,
        api_url: str,
        config: SandboxConfig,
        *,
        server: ApiServer | None = None,
        transport: Transport = "auto",
        audit_objects: bool = False,
        field_validation: FieldValidation = "Ignore",
        token: str | None = None,
    ) -> None:
        """``transport``: "local" calls ``server.core`` in process (the default when a
        ``server`` is given), "http" talks to ``api_url`` over HTTP (the default without).

        ``audit_objects`` (in process only, for tests): remember every object handed to the
        controllers, so that ``self.client.mutated()`` can tell whether one was changed;
        ``field_validation`` (in process only): see ``LocalClient``."""
        self.api_url = api_url.rstrip("/")
        self.config = config
        if transport not in ("auto", "local", "http"):
            raise ValueError(f"transport must be 'auto', 'local' or 'http', not {transport!r}")
        if transport == "local" and server is None:
            raise ValueError(
                "transport='local' needs the ApiServer of this process: "
                "ControllerManager(url, config, server=server)"
            )
        self.transport: Literal["local", "http"] = (
            "local" if server is not None and transport != "http" else "http"
        )
        self.client: ApiTransport = (
            LocalClient(server, audit=audit_objects, field_validation=field_validation)
            if self.transport == "local" and server is not None
            else ApiClient(self.api_url, token or (server.admin_token if server else None))
        )
        # Where Pods reach the API server with in-cluster config (TLS, their own token).
        self.secure_port = server.secure_port if server is not None else None
        self.informers: dict[str, Informer] = {}
        self.queues: list[WorkQueue] = []
        self.kubelet: object | None = None
        self.proxy: object | None = None
        self._started = False
        self._owned_slot: NetworkSlot | None = None

    def _informer(self, name: str) -> Informer:
        return self.informers[name]

    async def start(self, sync_timeout: float = 30.0) -> None:
        from kubesandbox.kubelet import Kubelet
        from kubesandbox.network.proxy import ServiceProxy

        if self.config.network_slot is None:
            self.config.network_slot = self._owned_slot = claim_slot()
        _raise_open_file_limit()
        resources = {
            "pods": PODS,
            "services": SERVICES,
            "endpoints": ENDPOINTS,
            "endpointslices": ENDPOINTSLICES,
            "configmaps": CONFIGMAPS,
            "secrets": SECRETS,
            "pvcs": PVCS,
            "deployments": DEPLOYMENTS,
            "replicasets": REPLICASETS,
            "jobs": JOBS,
            "cronjobs": CRONJOBS,
        }
        for name, kind in resources.items():
            self.informers[name] = Informer(self.client, kind)
        inf = self.informers
        recorder = EventRecorder(self.client, "deployment-controller")
        controllers: list[
            ReplicaSetController
            | DeploymentController
            | JobController
            | CronJobController
            | EndpointsController
            | PersistentVolumeController
        ] = [
            ReplicaSetController(
                self.client,
                inf["replicasets"],
                inf["pods"],
                EventRecorder(self.client, "replicaset-controller"),
            ),
            DeploymentController(
                self.client, inf["deployments"], inf["replicasets"], inf["pods"], recorder
            ),
            JobController(
                self.client,
                inf["jobs"],
                inf["pods"],
                EventRecorder(self.client, "job-controller"),
                self.config.backoff_base_seconds,
            ),
            CronJobController(
                self.client,
                inf["cronjobs"],
                inf["jobs"],
                EventRecorder(self.client, "cronjob-controller"),
            ),
            EndpointsController(
                self.client, inf["services"], inf["pods"], inf["endpoints"], inf["endpointslices"]
            ),
            PersistentVolumeController(
                self.client,
                inf["pvcs"],
                inf["pods"],
                self.config,
                EventRecorder(self.client, "persistentvolume-controller"),
            ),
        ]
        self.queues = [c.queue for c in controllers]
        kubelet = Kubelet(
            self.client,
            self.config,
            pods=inf["pods"],
            configmaps=inf["configmaps"],
            secrets=inf["secrets"],
            pvcs=inf["pvcs"],
            services=inf["services"],
            secure_port=self.secure_port,
        )
        self.kubelet = kubelet
        proxy = ServiceProxy(inf["services"], inf["endpointslices"], kubelet.hosts_file)
        self.proxy = proxy
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        await kubelet.start()
        proxy.start()
        for informer in self.informers.values():
            informer.start()
        for queue in self.queues:
            queue.start()
        self._started = True
        try:
            await asyncio.wait_for(
                asyncio.gather(*(i.synced.wait() for i in self.informers.values())),
                sync_timeout,
            )
        except TimeoutError:
            missing = [n for n, i in self.informers.items() if not i.synced.is_set()]
            log.warning("informers not synced yet", resources=missing)
        log.info(
            "controllers started",
            api=self.api_url,
            transport=self.transport,
            virtual_pods=self.config.virtual_pods,
        )

    async def stop(self) -> None:
        """Stop everything; every process the kubelet started is terminated first."""
        from kubesandbox.kubelet import Kubelet
        from kubesandbox.network.proxy import ServiceProxy

        if isinstance(self.kubelet, Kubelet):
            await self.kubelet.stop()
        for queue in self.queues:
            await queue.stop()
        for informer in self.informers.values():
            await informer.stop()
        if isinstance(self.proxy, ServiceProxy):
            await self.proxy.stop()
        with contextlib.suppress(Exception):
            await self.client.close()
        if self._owned_slot is not None:
            self._owned_slot.release()
            self.config.network_slot = self._owned_slot = None
        self._started = False

    async def __aenter__(self) -> ControllerManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _raise_open_file_limit(wanted: int = 65536) -> None:
    """Service listeners, watches and pod logs need many descriptors (1,000 rooms)."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
