"""Fixed names and labels of a room's children (fixed names make a retried create harmless)."""

from __future__ import annotations

import hashlib

from . import GROUP

MANAGED_BY = "gameroom-operator"
ROOM_LABEL = f"{GROUP}/room"
ADMIN_CLIENT_LABEL = f"{GROUP}/admin-client"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
TOKEN_HASH_ANNOTATION = f"{GROUP}/admin-token-hash"
INGRESS_CLASS_ANNOTATION = f"{GROUP}/ingress-class"
# On the Deployment: the key paths the room's spec set at the last write (JSON), so keys the
# user removes later are sent as null (diff.with_removals).
USER_KEYS_ANNOTATION = f"{GROUP}/user-keys"
GAME_PORT = 8080
ADMIN_PORT = 8081


# Every child is named <room><suffix>. A room name may not end with one of these (a CEL rule
# in the CRD says so), which makes two rooms' children never share a name: room "duo-admin"
# would otherwise own Service duo-admin, room duo's admin Service. The last two are kept
# for the backup and restore objects to come.
CHILD_SUFFIXES = ("-admin", "-config", "-admin-token", "-data")
RESERVED_SUFFIXES = (*CHILD_SUFFIXES, "-backup", "-restore")


def deployment(room: str) -> str:
    return room


def game_service(room: str) -> str:
    return room


def admin_service(room: str) -> str:
    return f"{room}-admin"


def config_map(room: str) -> str:
    return f"{room}-config"


def admin_secret(room: str) -> str:
    return f"{room}-admin-token"


def data_pvc(room: str) -> str:
    return f"{room}-data"


def network_policy(room: str) -> str:
    return f"{room}-admin"


def ingress(room: str) -> str:
    return room


# Backups (backup.py): the CronJob and the backup volume share one name (different kinds).
# The volume has no owner reference: it outlives the room, so do the backups on it.
JOB_KIND_LABEL = f"{GROUP}/job"  # on a room's Jobs and their Pods: backup or restore
FINAL_BACKUP_FINALIZER = f"{GROUP}/final-backup"


def backup_cronjob(room: str) -> str:
    return f"{room}-backup"


def backup_pvc(room: str) -> str:
    return f"{room}-backup"


def final_backup_job(room: str) -> str:
    return f"{room}-backup-final"


def restore_job(room: str, request_id: str) -> str:
    """One name per requestId (a retry after a crash finds the Job it made)."""
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:10]
    return f"{room}-restore-{digest}"


def job_labels(room: str, kind: str, version: str) -> dict[str, str]:
    """Labels of a room's Job and its Pod: the room's (so its NetworkPolicy admits the Pod to
    the admin port) but never the room's selector labels (its Service and ReplicaSet would
    take the Job's Pod for the game server)."""
    return {
        "app.kubernetes.io/name": f"gameroom-{kind}",
        "app.kubernetes.io/instance": room,
        "app.kubernetes.io/component": kind,
        "app.kubernetes.io/part-of": "drawgame",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/version": version[:63],
        ROOM_LABEL: room,
        ADMIN_CLIENT_LABEL: "true",
        JOB_KIND_LABEL: kind,
    }


def selector_labels(room: str) -> dict[str, str]:
    """Labels that select the room's Pod; never change them (Deployment selectors are immutable)."""
    return {
        "app.kubernetes.io/name": "gameroom",
        "app.kubernetes.io/instance": room,
    }


def common_labels(room: str, version: str) -> dict[str, str]:
    return {
        **selector_labels(room),
        "app.kubernetes.io/component": "gameserver",
        "app.kubernetes.io/part-of": "drawgame",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/version": version[:63],
        ROOM_LABEL: room,
    }


def game_url(room: str, namespace: str, port: int) -> str:
    host = f"{game_service(room)}.{namespace}.svc"
    return f"http://{host}/" if port == 80 else f"http://{host}:{port}/"
