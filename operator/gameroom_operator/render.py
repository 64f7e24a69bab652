"""Pure renderer: a GameRoom spec -> the manifests of its children.

No I/O here. A value of None in a rendered manifest means "this field must be absent": the
applier sends it as null in a merge patch (so a field the user removed is removed from the
child) and strips it on create.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import yaml

from . import DEFAULT_IMAGE, GROUP, KIND, VERSION
from . import names as n
from .defaults import effective_spec, live_settings_on
from .diff import KeyPath, encode_key_paths, user_key_paths

CONFIG_FILE = "config.yaml"
CONFIG_DIR = "/etc/gameroom"
TOKEN_DIR = "/var/run/gameroom/admin"  # noqa: S105 - a path, not a secret
TOKEN_KEY = "token"  # noqa: S105 - the Secret key name
DATA_DIR = "/data"
RUN_AS = 10001
GRACE_PERIOD_SECONDS = 45
PRESTOP_SLEEP_SECONDS = 5
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "gameroom-operator"}
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server

Manifest = dict[str, Any]

# libyaml's emitter when PyYAML has it (the same text, ten times faster), else PyYAML's own.
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Room:
    """What the renderer needs to know about a GameRoom besides its spec."""

    name: str
    namespace: str
    uid: str
    spec: dict[str, Any]

    @functools.cached_property
    def effective(self) -> dict[str, Any]:
        """The spec with every default filled in, computed once per Room; read it, never
        change it (the rendered children share its values)."""
        return effective_spec(self.spec)

    @functools.cached_property
    def settings_hash(self) -> str:
        """See config_hash()."""
        return _settings_hash(self)


@dataclass(frozen=True)
class RenderOptions:
    default_image: str = DEFAULT_IMAGE
    log_format: str = "json"
    # The operator's own namespace: the only one whose operator Pods may reach a room's admin
    # port. Empty (not known, e.g. an operator running outside the cluster): the room's own
    # namespace only.
    operator_namespace: str = ""


def image_of(spec: dict[str, Any], options: RenderOptions) -> str:
    return str(spec.get("image") or options.default_image)


def version_of(image: str) -> str:
    """The tag of an image reference (the digest when pinned by digest), else 'latest'."""
    if "@" in image:
        return image.rsplit("@", 1)[1].replace(":", "-")[:63]
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def game_config(room: Room) -> dict[str, Any]:
    """The game server's config file (docs/CONTRACT.md) for this room."""
    spec = room.effective
    game = dict(spec["game"])
    game.setdefault("customWords", [])
    return {
        "roomName": room.name,
        "game": game,
        "rateLimits": dict(spec["rateLimits"]),
        "maintenance": {
            "enabled": bool(spec["maintenance"]["enabled"]),
            "message": str(spec["maintenance"].get("message", "")),
        },
        "reconnectGraceSeconds": 60,
    }


# What spec.rollout.liveSettings sends to the running room (PUT /admin/settings) instead of
# restarting it: game settings (from the next game) and rate limits.
LIVE_SECTIONS = ("game", "rateLimits")


def live_settings(room: Room) -> dict[str, Any]:
    """The live sections of the room's config file, as the admin API takes them."""
    config = game_config(room)
    return {section: config[section] for section in LIVE_SECTIONS}


def config_hash(room: Room) -> str:
    """Hash of the settings that need a restart to apply (computed once per Room).

    Maintenance is left out on purpose: it is switched through the admin API without a
    restart; so are spec.game and spec.rateLimits with spec.rollout.liveSettings.
    """
    return room.settings_hash


def _settings_hash(room: Room) -> str:
    config = game_config(room)
    config.pop("maintenance")
    if live_settings_on(room.effective):
        for section in LIVE_SECTIONS:
            config.pop(section)
        config["liveSettings"] = True  # never the hash of a revision that restarts for them
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def owner_reference(room: Room) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": room.name,
        "uid": room.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(room: Room, name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": room.namespace,
        "labels": n.common_labels(room.name, version),
        "ownerReferences": [owner_reference(room)],
    }


def render_config_map(room: Room, version: str) -> Manifest:
    config = game_config(room)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(room, n.config_map(room.name), version),
        "data": {
            CONFIG_FILE: yaml.dump(config, Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)
        },
    }


def render_secret(room: Room, version: str, admin_token: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(room, n.admin_secret(room.name), version),
        "type": "Opaque",
        "data": {TOKEN_KEY: base64.b64encode(admin_token.encode()).decode()},
    }


def render_pvc(room: Room, version: str) -> Manifest:
    storage = room.effective["storage"]
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage["size"]}},
    }
    # Never sent as null: the cluster fills in its default class and the field is immutable.
    if storage.get("storageClassName"):
        spec["storageClassName"] = storage["storageClassName"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(room, n.data_pvc(room.name), version),
        "spec": spec,
    }


def _probe(path: str, period: int, failures: int, timeout: int = 2) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"], "add": None},
        "privileged": None,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def token_hash(admin_token: str) -> str:
    return hashlib.sha256(admin_token.encode()).hexdigest()[:16]


def render_deployment(
    room: Room, version: str, options: RenderOptions, admin_token: str = ""
) -> Manifest:
    spec = room.effective
    pod = spec["podTemplate"]
    image = image_of(spec, options)
    config_digest = config_hash(room)
    pod_labels = {**pod.get("labels", {}), **n.common_labels(room.name, version)}
    pod_annotations = {
        **pod.get("annotations", {}),
        n.CONFIG_HASH_ANNOTATION: config_digest,
        # A new admin token (the Secret edited) rolls the Pod, so the operator and the
        # room never hold different tokens.
        n.TOKEN_HASH_ANNOTATION: token_hash(admin_token),
    }
    container: dict[str, Any] = {
        "name": "gameserver",
        "image": image,
        "imagePullPolicy": spec["imagePullPolicy"],
        "command": ["python", "-m", "gameserver"],
        "args": [
            "serve",
            "--config",
            f"{CONFIG_DIR}/{CONFIG_FILE}",
            "--db",
            f"{DATA_DIR}/gameroom.db",
            "--admin-token-file",
            f"{TOKEN_DIR}/{TOKEN_KEY}",
            "--port",
            str(n.GAME_PORT),
            "--admin-port",
            str(n.ADMIN_PORT),
        ],
        "env": [
            {"name": "GAMESERVER_ROOM_NAME", "value": room.name},
            {"name": "GAMESERVER_LOG_FORMAT", "value": options.log_format},
        ],
        "ports": [
            {"name": "http", "containerPort": n.GAME_PORT, "protocol": "TCP"},
            {"name": "admin", "containerPort": n.ADMIN_PORT, "protocol": "TCP"},
        ],
        "startupProbe": _probe("/livez", period=2, failures=60),
        "readinessProbe": _probe("/readyz", period=5, failures=2),
        "livenessProbe": _probe("/livez", period=10, failures=3),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}},
        "resources": spec["resources"],
        "securityContext": _security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "admin-token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the container's own emptyDir
        ],
    }
    pod_spec: dict[str, Any] = {
        # The posture (operator/README.md, "Security posture"): None marks a field that must
        # stay absent, so an edit that adds it is drift and is put back.
        "automountServiceAccountToken": False,
        "serviceAccountName": None,
        "serviceAccount": None,
        "hostNetwork": None,
        "hostPID": None,
        "hostIPC": None,
        "shareProcessNamespace": None,
        "initContainers": None,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": GRACE_PERIOD_SECONDS,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": n.config_map(room.name)}},
            {
                "name": "admin-token",
                "secret": {"secretName": n.admin_secret(room.name), "defaultMode": 0o440},
            },
            {"name": "data", "persistentVolumeClaim": {"claimName": n.data_pvc(room.name)}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
        "imagePullSecrets": spec.get("imagePullSecrets") or None,
        "nodeSelector": pod.get("nodeSelector") or None,
        "tolerations": pod.get("tolerations") or None,
        "affinity": pod.get("affinity") or None,
        "priorityClassName": pod.get("priorityClassName") or None,
    }
    metadata = _metadata(room, n.deployment(room.name), version)
    metadata["annotations"] = {
        n.CONFIG_HASH_ANNOTATION: config_digest,
        n.USER_KEYS_ANNOTATION: encode_key_paths(_user_keys(pod, spec["resources"])),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "paused": None,
            # Recreate: two servers must never share the room's volume and database.
            "strategy": {"type": "Recreate", "rollingUpdate": None},
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": n.selector_labels(room.name)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": pod_annotations},
                "spec": pod_spec,
            },
        },
    }


def _user_keys(pod: dict[str, Any], resources: dict[str, Any]) -> list[KeyPath]:
    """The Deployment key paths that come from the room's spec (see diff.with_removals)."""
    template: KeyPath = ("spec", "template")
    return [
        *user_key_paths(pod.get("labels") or {}, (*template, "metadata", "labels")),
        *user_key_paths(pod.get("annotations") or {}, (*template, "metadata", "annotations")),
        *user_key_paths(
            {key: pod.get(key) for key in ("nodeSelector", "affinity")}, (*template, "spec")
        ),
        *user_key_paths(resources, (*template, "spec", "containers", 0, "resources")),
    ]


def render_game_service(room: Room, version: str) -> Manifest:
    expose = room.effective["expose"]
    port: dict[str, Any] = {
        "name": "http",
        "port": expose["port"],
        "targetPort": "http",
        "protocol": "TCP",
    }
    if expose.get("nodePort") and expose["type"] != "ClusterIP":
        port["nodePort"] = expose["nodePort"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(room, n.game_service(room.name), version),
        "spec": {
            "type": expose["type"],
            "selector": n.selector_labels(room.name),
            "ports": [port],
        },
    }


def render_admin_service(room: Room, version: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(room, n.admin_service(room.name), version),
        "spec": {
            "type": "ClusterIP",
            "selector": n.selector_labels(room.name),
            "ports": [
                {"name": "admin", "port": n.ADMIN_PORT, "targetPort": "admin", "protocol": "TCP"}
            ],
        },
    }


def _operator_peer(options: RenderOptions) -> dict[str, Any]:
    peer: dict[str, Any] = {"podSelector": {"matchLabels": dict(OPERATOR_POD_LABELS)}}
    if options.operator_namespace:
        peer["namespaceSelector"] = {
            "matchLabels": {NAMESPACE_NAME_LABEL: options.operator_namespace}
        }
    return peer


def render_network_policy(room: Room, version: str, options: RenderOptions) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(room, n.network_policy(room.name), version),
        "spec": {
            "podSelector": {"matchLabels": n.selector_labels(room.name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                # The game port is public: players and the kubelet's probes.
                {"ports": [{"port": n.GAME_PORT, "protocol": "TCP"}]},
                # The admin port only from the operator's Pods (in its own namespace) and
                # this room's jobs.
                {
                    "from": [
                        _operator_peer(options),
                        {
                            "podSelector": {
                                "matchLabels": {
                                    n.ROOM_LABEL: room.name,
                                    n.ADMIN_CLIENT_LABEL: "true",
                                }
                            }
                        },
                    ],
                    "ports": [{"port": n.ADMIN_PORT, "protocol": "TCP"}],
                },
            ],
        },
    }


def render_ingress(room: Room, version: str) -> Manifest | None:
    expose = room.effective["expose"]
    ingress = expose.get("ingress")
    if not ingress:
        return None
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": ingress["host"],
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {
                                    "name": n.game_service(room.name),
                                    "port": {"name": "http"},
                                }
                            },
                        }
                    ]
                },
            }
        ],
        "tls": (
            [{"hosts": [ingress["host"]], "secretName": ingress["tlsSecretName"]}]
            if ingress.get("tlsSecretName")
            else None
        ),
    }
    # Left out (never null) without a className: the cluster's default IngressClass fills it in.
    metadata = _metadata(room, n.ingress(room.name), version)
    if ingress.get("className"):
        spec["ingressClassName"] = ingress["className"]
        # Recorded so that removing className later removes it (diff.for_live), while a
        # class the cluster's default-class admission filled in is left alone.
        metadata["annotations"] = {n.INGRESS_CLASS_ANNOTATION: ingress["className"]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def render_children(
    room: Room, admin_token: str, options: RenderOptions | None = None
) -> list[Manifest]:
    """Every child of the room in the order to create them (what a Pod mounts comes first)."""
    options = options or RenderOptions()
    version = version_of(image_of(room.effective, options))
    children = [
        render_config_map(room, version),
        render_secret(room, version, admin_token),
        render_pvc(room, version),
        render_admin_service(room, version),
        render_game_service(room, version),
        render_network_policy(room, version, options),
        render_deployment(room, version, options, admin_token),
    ]
    ingress = render_ingress(room, version)
    if ingress is not None:
        children.append(ingress)
    if room.effective["backup"]["enabled"]:
        children.append(render_backup_cronjob(room, version, options))
    return children


def strip_absent(value: Any) -> Any:
    """The manifest without the None markers (for create, validation and display)."""
    if isinstance(value, dict):
        return {key: strip_absent(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [strip_absent(item) for item in value]
    return value


# ---- backups (spec.backup, spec.restore; decisions in backup.py) ----------------------------

BACKUP_DIR = "/backups"
BACKUP_HISTORY = 3  # finished Jobs the CronJob keeps of each outcome (their logs hold results)
BACKUP_STARTING_DEADLINE_SECONDS = 300
JOB_DEADLINE_SECONDS = 1800
RESTORE_TTL_SECONDS = 7 * 86400  # the result is in status.restore long before


def admin_url(room: Room) -> str:
    return f"http://{n.admin_service(room.name)}.{room.namespace}.svc:{n.ADMIN_PORT}"


def backup_destination_args(room: Room, source: str = "") -> list[str]:
    """The backup commands' destination flags for the room's spec.backup.destination; with
    `source` (a clone), where the room `source` of the same namespace keeps its backups."""
    destination = room.effective["backup"]["destination"]
    if destination.get("type") != "s3":
        return ["--destination", BACKUP_DIR]
    s3 = destination.get("s3") or {}
    default = f"{room.namespace}/{source or room.name}"
    prefix = str((s3.get("prefix") if not source else "") or default).strip("/")
    args = ["--destination", f"s3://{s3.get('bucket', '')}/{prefix}"]
    if s3.get("endpoint"):
        args += ["--s3-endpoint", str(s3["endpoint"])]
    if s3.get("region"):
        args += ["--s3-region", str(s3["region"])]
    return args


def _job_pod(
    room: Room, options: RenderOptions, kind: str, args: list[str], source: str = ""
) -> Manifest:
    spec = room.effective
    destination = spec["backup"]["destination"]
    version = version_of(image_of(spec, options))
    env: list[dict[str, Any]] = [
        {"name": "GAMESERVER_LOG_FORMAT", "value": options.log_format},
        {"name": "TMPDIR", "value": "/tmp"},  # noqa: S108 - the Pod's own emptyDir
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "admin-token", "mountPath": TOKEN_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the Pod's own emptyDir
    ]
    volumes: list[dict[str, Any]] = [
        {
            "name": "admin-token",
            "secret": {"secretName": n.admin_secret(room.name), "defaultMode": 0o440},
        },
        # Downloads and scratch databases of an s3 destination (verification) land here.
        {"name": "tmp", "emptyDir": {}},
    ]
    secret = ((destination.get("s3") or {}).get("credentialsSecret") or "") if destination else ""
    if destination.get("type") == "s3":
        if secret:
            env += [
                {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            ]
    else:
        mounts.append({"name": "backups", "mountPath": BACKUP_DIR})
        volumes.append(
            {
                "name": "backups",
                "persistentVolumeClaim": {"claimName": n.backup_pvc(source or room.name)},
            }
        )
    container: dict[str, Any] = {
        "name": kind,
        "image": image_of(spec, options),
        "imagePullPolicy": spec["imagePullPolicy"],
        "command": ["python", "-m", "gameserver"],
        "args": [
            *args,
            "--admin-url",
            admin_url(room),
            "--token-file",
            f"{TOKEN_DIR}/{TOKEN_KEY}",
            *backup_destination_args(room, source),
        ],
        "env": env,
        # The job writes its one-line JSON result here; the operator reads it from the Pod's
        # status (or its log, where the runtime keeps no termination message).
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": _security_context(),
        "volumeMounts": mounts,
    }
    return {
        "metadata": {"labels": n.job_labels(room.name, kind, version)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "fsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": volumes,
            "imagePullSecrets": spec.get("imagePullSecrets") or None,
        },
    }


def _job_spec(pod: Manifest, ttl: int | None = None) -> Manifest:
    spec: Manifest = {
        # One attempt: a failed backup is reported as it is, the schedule tries again.
        "backoffLimit": 0,
        "activeDeadlineSeconds": JOB_DEADLINE_SECONDS,
        "template": pod,
    }
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return spec


def _backup_args(room: Room) -> list[str]:
    backup = room.effective["backup"]
    retention = backup["retention"]
    return [
        "backup-job",
        "--retention-count",
        str(retention["count"]),
        "--retention-max-age-days",
        str(retention.get("maxAgeDays") or 0),
        # spec.backup.verify: false skips the scratch restore; the backup is stored unverified.
        *([] if backup.get("verify", True) else ["--no-verify"]),
    ]


def render_backup_cronjob(room: Room, version: str, options: RenderOptions) -> Manifest:
    backup = room.effective["backup"]
    pod = _job_pod(room, options, "backup", _backup_args(room))
    labels = n.job_labels(room.name, "backup", version)
    metadata = _metadata(room, n.backup_cronjob(room.name), version)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata,
        "spec": {
            "schedule": backup["schedule"],
            "timeZone": backup.get("timeZone") or None,
            "suspend": bool(backup.get("suspend")),
            # A backup still running when the next one is due: skip the new one.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": BACKUP_STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": BACKUP_HISTORY,
            "failedJobsHistoryLimit": BACKUP_HISTORY,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": _job_spec(pod)},
        },
    }


def render_backup_job(room: Room, options: RenderOptions, name: str) -> Manifest:
    """A one-off backup Job owned by the room (the final backup of a room being deleted)."""
    version = version_of(image_of(room.effective, options))
    metadata = _metadata(room, name, version)
    metadata["labels"] = n.job_labels(room.name, "backup", version)
    pod = _job_pod(room, options, "backup", _backup_args(room))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": _job_spec(pod),
    }


def render_restore_job(
    room: Room, options: RenderOptions, request_id: str, backup_name: str, source: str = ""
) -> Manifest:
    """The Job of one restore request; with `source`, a clone: the backup is another room's
    (of the same namespace), read from where that room keeps its backups."""
    version = version_of(image_of(room.effective, options))
    metadata = _metadata(room, n.restore_job(room.name, request_id), version)
    metadata["labels"] = n.job_labels(room.name, "restore", version)
    metadata["annotations"] = {f"{GROUP}/restore-request-id": request_id}
    pod = _job_pod(room, options, "restore", ["restore-job", "--backup", backup_name], source)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": _job_spec(pod, ttl=RESTORE_TTL_SECONDS),
    }


def render_backup_pvc(room: Room, version: str) -> Manifest:
    """The backup volume: no owner reference, so it (and the backups) outlive the room."""
    storage = room.effective["backup"]["storage"]
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage["size"]}},
    }
    if storage.get("storageClassName"):
        spec["storageClassName"] = storage["storageClassName"]
    metadata = _metadata(room, n.backup_pvc(room.name), version)
    del metadata["ownerReferences"]
    metadata["labels"]["app.kubernetes.io/component"] = "backup"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": spec,
    }
