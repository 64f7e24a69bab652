"""Closing a deleted room for its players, before its Pod goes.

A Pod's SIGTERM cannot tell a deletion from a restart, so on its own the game server tells
its players "restarting, reconnect" and they retry a room that will never come back. The
operator knows: a finalizer of its own holds a room being deleted (its children stay, as
the garbage collector waits for the owner) until it has called the room's
`POST /admin/close`, which sends every player `room_closed` and close code 4010. Then it
drops the finalizer and the garbage collector takes the children.

A room that cannot be reached (no Pod, a Pod that does not answer within CLOSE_TIMEOUT)
is released all the same: its deletion is never stuck on the players' goodbye.

`kubectl delete --cascade=foreground` does not wait for this finalizer: the garbage
collector deletes the children at once (the admin-token Secret first, it has no dependents
of its own; the Deployment, its ReplicaSet, then the Pod), and only the room itself waits.
The Pod still serves during its preStop sleep (render.PRESTOP_SLEEP_SECONDS) before its
SIGTERM, so the close goes to a Pod being deleted too, with the token the operator read
when it reconciled the room (`tokens`): the Secret is usually gone by then.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from enum import Enum
from typing import Any

import aiohttp
import structlog

from . import GROUP, PLURAL, VERSION
from . import names as n
from .backup import BackupSpec
from .kube import ApiError, Kube, api_path
from .render import TOKEN_KEY

log = structlog.get_logger("gameroom_operator")

FINALIZER = f"{GROUP}/close-room"
CLOSE_TIMEOUT = 5.0
FAREWELL = "This room has been deleted. Thanks for playing!"
# Set by `kubectl delete --cascade=orphan`: the children stay on purpose (to be adopted by
# a room of the same name), so the players stay too.
ORPHAN_FINALIZER = "orphan"


class Step(Enum):
    NOTHING = "nothing"
    ADD = "add"  # a live room without the finalizer
    CLOSE = "close"  # being deleted: close the room for its players, then release
    RELEASE = "release"  # being deleted with its children orphaned: release only


def decide(meta: dict[str, Any]) -> Step:
    finalizers = list(meta.get("finalizers") or [])
    if meta.get("deletionTimestamp"):
        if FINALIZER not in finalizers:
            return Step.NOTHING
        return Step.RELEASE if ORPHAN_FINALIZER in finalizers else Step.CLOSE
    return Step.NOTHING if FINALIZER in finalizers else Step.ADD


def finalizers_patch(meta: dict[str, Any], add: bool, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """A merge patch of the room's finalizers with its resourceVersion: a concurrent change
    (another controller's finalizer) fails it with 409 instead of being overwritten.
    `also`: other finalizers the room wants, added in the same write (a new room gets all
    its finalizers in one patch)."""
    current = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
    more = [f for f in also if f not in current] if add else []
    wanted = [*current, FINALIZER, *more] if add else current
    return {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}


def creation_finalizers(body: dict[str, Any]) -> tuple[str, ...]:
    """The other finalizers a new room wants, written with FINALIZER in one patch: the final
    backup's (backups.py keeps it afterwards, as spec.backup changes)."""
    wanted = BackupSpec.of(body.get("spec") or {}).final_backup
    return (n.FINAL_BACKUP_FINALIZER,) if wanted else ()


def owned_by(child: dict[str, Any], uid: str) -> bool:
    refs = (child.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def room_pod_ips(pods: dict[str, Any]) -> list[str]:
    """The IPs of the room's Pods that may hold players (during a rollout, two may); a Pod
    being deleted counts while it runs (its preStop sleep comes before its SIGTERM)."""
    ips = []
    for pod in pods.get("items") or []:
        ip = (pod.get("status") or {}).get("podIP")
        if ip and (pod.get("status") or {}).get("phase") == "Running":
            ips.append(str(ip))
    return ips


class RoomCloser:
    """Keeps FINALIZER on every room and, on deletion, closes the room before releasing it.

    `tokens(namespace, name)`: the room's admin token as last read by the controller, for
    when its Secret is already gone (a foreground deletion)."""

    def __init__(self, kube: Kube, tokens: Callable[[str, str], str | None] | None = None) -> None:
        self.kube = kube
        self.tokens = tokens or (lambda namespace, name: None)

    async def room_event(self, body: dict[str, Any], event_type: str | None) -> None:
        if event_type == "DELETED":
            return
        meta = body.get("metadata") or {}
        step = decide(meta)
        if step is Step.NOTHING:
            return
        if step is Step.CLOSE:
            await self._close(meta["namespace"], meta["name"], meta.get("uid", ""))
        await self._patch(meta, add=step is Step.ADD, also=creation_finalizers(body))

    async def _patch(self, meta: dict[str, Any], add: bool, also: tuple[str, ...] = ()) -> None:
        path = api_path(f"{GROUP}/{VERSION}", PLURAL, meta["namespace"], meta["name"])
        try:
            await self.kube.merge_patch(path, finalizers_patch(meta, add, also))
        except ApiError as error:
            # 409: the room changed meanwhile; its next event decides again. 404: gone.
            # The client logged the error answer itself: one line per incident.
            level = log.debug if error.logged else log.warning
            level(
                "room_finalizer_not_written",
                room=meta["name"],
                ns=meta["namespace"],
                status=error.status,
                adding=add,
            )

    async def _close(self, namespace: str, name: str, uid: str) -> None:
        try:
            deployment = await self.kube.get(
                api_path("apps/v1", "deployments", namespace, n.deployment(name))
            )
            if deployment is not None and not owned_by(deployment, uid):
                # Orphaned by the delete (the garbage collector may have dropped the
                # "orphan" finalizer before we saw it): the room's server stays, and so do
                # its players.
                log.info("room_close_skipped", room=name, ns=namespace, reason="orphaned")
                return
            token = await self._token(namespace, name) or self.tokens(namespace, name)
            selector = ",".join(f"{k}={v}" for k, v in n.selector_labels(name).items())
            pods = await self.kube.request(
                "GET", api_path("v1", "pods", namespace), params={"labelSelector": selector}
            )
        except ApiError as error:
            log.warning("room_close_skipped", room=name, ns=namespace, error=str(error))
            return
        ips = room_pod_ips(pods)
        if token is None or not ips:
            log.info("room_close_skipped", room=name, ns=namespace, reason="no running Pod")
            return
        results = await asyncio.gather(*(_post_close(ip, token) for ip in ips))
        log.info(
            "room_closed_for_players",
            room=name,
            ns=namespace,
            disconnected=sum(r for r in results if r is not None),
            unreachable=sum(1 for r in results if r is None),
        )

    async def _token(self, namespace: str, name: str) -> str | None:
        secret = await self.kube.get(api_path("v1", "secrets", namespace, n.admin_secret(name)))
        encoded = ((secret or {}).get("data") or {}).get(TOKEN_KEY)
        if not encoded:
            return None
        try:
            return base64.b64decode(encoded).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None


async def _post_close(pod_ip: str, token: str) -> int | None:
    """The number of sockets the room closed, or None when it could not be told."""
    url = f"http://{pod_ip}:{n.ADMIN_PORT}/admin/close"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLOSE_TIMEOUT)) as session,
            session.post(
                url, json={"message": FAREWELL}, headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            if response.status != 200:
                log.warning("room_close_refused", pod_ip=pod_ip, status=response.status)
                return None
            body = await response.json(content_type=None)
            return int((body or {}).get("disconnected") or 0)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("room_close_failed", pod_ip=pod_ip, error=type(error).__name__)
        return None
