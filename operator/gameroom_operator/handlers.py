"""Kopf registration: thin handlers that forward to the Controller."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import kopf
import structlog
from aiohttp import web

from . import GROUP, PLURAL, VERSION, metrics
from .closing import RoomCloser
from .controller import Controller
from .informer import ChildWatch, Handler, Kind, watches_for
from .kube import Kube, load_credentials
from .names import MANAGED_BY
from .render import RenderOptions
from .settings import Settings

log = structlog.get_logger("gameroom_operator")


class _Runtime:
    settings: Settings | None = None
    controller: Controller | None = None
    closer: RoomCloser | None = None
    prober: asyncio.Task[None] | None = None
    watches: list[asyncio.Task[None]] = []
    web_runner: web.AppRunner | None = None


runtime = _Runtime()


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    """Keeps no diff-base: rooms are reconciled level-triggered on metadata.generation
    (room_event below) and no handler asks Kopf what changed.

    Kopf still builds the diff-base of every object on every event, a deep copy of the
    whole body (Pods and Deployments included): a fifth of the operator's CPU when a
    thousand rooms start at once. With no change-detection handler it has no reader.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


# The kinds of a room's children the controller watches, in one place: a new child kind is
# added here (and rendered in render.py). Children are matched to their room by owner
# reference, so their watches take every object of the kind: a label selector would lose a
# child whose label someone removed. Pods belong to ReplicaSets: they are selected by the
# room's Pod labels, which the ReplicaSet itself needs. Secrets are left out: watching them
# would need list/watch on every Secret of the cluster (RBAC cannot narrow that); the admin
# token is read at every reconcile and its hash on the Pod template rolls the Pod when it
# changes.
POD_SELECTOR = "app.kubernetes.io/name=gameroom,app.kubernetes.io/managed-by=" + MANAGED_BY
DEPLOYMENTS = Kind("apps/v1", "deployments")
PODS = Kind("v1", "pods")
# The rooms' Jobs (backups, restores, smoke tests), by the operator's label: a Job made by
# a room's CronJob is owned by the CronJob, so observers.observe_job also reads its labels.
JOBS = Kind("batch/v1", "jobs")
JOB_SELECTOR = "app.kubernetes.io/managed-by=" + MANAGED_BY
REPAIRED = (
    Kind("v1", "configmaps"),
    Kind("v1", "services"),
    Kind("v1", "persistentvolumeclaims"),
    Kind("networking.k8s.io/v1", "networkpolicies"),
    Kind("networking.k8s.io/v1", "ingresses"),
    Kind("batch/v1", "cronjobs"),  # the backup CronJob (spec.backup)
)


def child_watches(controller: Controller, namespaces: tuple[str, ...]) -> list[ChildWatch]:
    """The watches of the rooms' children (ours, not Kopf's: see informer.py)."""

    observers = controller.observers

    async def deployment(event_type: str | None, body: dict[str, Any]) -> None:
        await observers.observe_deployment(body, event_type)

    async def pod(event_type: str | None, body: dict[str, Any]) -> None:
        await observers.observe_pod(body, event_type)

    async def job(event_type: str | None, body: dict[str, Any]) -> None:
        await observers.observe_job(body, event_type)

    async def other(event_type: str | None, body: dict[str, Any]) -> None:
        await observers.observe_child(body, event_type)

    handlers: list[tuple[Kind, Handler, str]] = [
        (DEPLOYMENTS, deployment, ""),
        (PODS, pod, POD_SELECTOR),
        (JOBS, job, JOB_SELECTOR),
    ]
    handlers += [(kind, other, "") for kind in REPAIRED]
    return watches_for(controller.kube, handlers, namespaces)


def configure(settings: Settings) -> None:
    runtime.settings = settings


@kopf.on.login()
async def login(**_: Any) -> kopf.ConnectionInfo:
    """Kopf connects with the same credentials as our own client (--kubeconfig or in-cluster)."""
    ours = runtime.settings
    credentials = await asyncio.to_thread(load_credentials, ours.kubeconfig if ours else None)
    return kopf.ConnectionInfo(
        server=credentials.host,
        ca_path=credentials.ca_file,
        insecure=not credentials.verify,
        token=credentials.token,
        certificate_path=credentials.cert_file,
        private_key_path=credentials.key_file,
    )


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    ours = runtime.settings
    if ours is None:
        raise kopf.PermanentError("gameroom_operator.handlers.configure() was not called")
    # Rooms are reconciled level-triggered from their events (room_event below): no Kopf
    # change-detection handlers, so no diff-base or progress annotations are kept.
    settings.persistence.diffbase_storage = NoDiffBaseStorage()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    # Our own Events say what an admin must know; Kopf's per-handler ones would be noise.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 270
    settings.networking.request_timeout = 60
    settings.batching.worker_limit = 2000
    settings.batching.idle_timeout = 1.0  # per-object workers (and the bodies they hold) go sooner
    credentials = await asyncio.to_thread(load_credentials, ours.kubeconfig)
    controller = Controller(
        Kube(credentials),
        RenderOptions(
            default_image=ours.default_image,
            log_format=ours.room_log_format,
            operator_namespace=ours.operator_namespace,
        ),
        probe_interval=ours.probe_interval,
        resync_interval=ours.resync_interval,
    )
    runtime.controller = controller
    runtime.closer = RoomCloser(
        controller.kube, lambda ns, name: getattr(controller.rooms.get((ns, name)), "token", None)
    )
    loop = asyncio.get_running_loop()
    runtime.prober = loop.create_task(controller.run_prober())
    runtime.watches = [
        loop.create_task(watch.run()) for watch in child_watches(controller, ours.namespaces)
    ]
    if ours.metrics_port:
        runner = web.AppRunner(metrics.make_app(controller.prober_healthy), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, ours.metrics_host, ours.metrics_port).start()
        runtime.web_runner = runner
    log.info(
        "operator_started",
        namespaces=list(ours.namespaces) or "all",
        default_image=ours.default_image,
        peering=ours.peering or "standalone",
        metrics_port=ours.metrics_port,
    )


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if runtime.prober is not None:
        runtime.prober.cancel()
    for watch in runtime.watches:
        watch.cancel()
    if runtime.web_runner is not None:
        await runtime.web_runner.cleanup()
    if runtime.controller is not None:
        await runtime.controller.close()
    log.info("operator_stopped")


@kopf.on.event(GROUP, VERSION, PLURAL)
async def room_event(body: kopf.Body, type: str | None, **_: Any) -> None:  # noqa: A002
    """Every event of a room, including each room listed at start-up: the controller
    reconciles a spec generation it has not applied yet (create, update and resume in one)."""
    controller = runtime.controller
    if controller is not None:
        plain = _plain(body)
        await controller.room_changed(plain, type)
        if runtime.closer is not None:
            await runtime.closer.room_event(plain, type)  # closing.py: players told on deletion


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {
        "metadata": dict(body.get("metadata", {})),
        "spec": _thaw(body.get("spec", {})),
        "status": _thaw(body.get("status", {})) if "status" in body else None,
    }


def _thaw(value: Any) -> Any:
    if hasattr(value, "items"):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(item) for item in value]
    return value
