"""How the kubelet builds a container's environment, command line, volumes and paths."""

from __future__ import annotations

import base64
import pathlib

import pytest

from kubesandbox.config import ImageRule, SandboxConfig
from kubesandbox.kubelet.env import ContainerConfigError, build_env, command_line, expand
from kubesandbox.kubelet.status import (
    ContainerView,
    backoff_delay,
    compute_phase,
    qos_class,
    should_restart,
)
from kubesandbox.kubelet.volumes import materialize_volumes, mount_map, rewrite_path

POD = {
    "metadata": {"name": "room-0", "namespace": "games", "uid": "abc", "labels": {"app": "room"}},
    "spec": {"nodeName": "sandbox-node"},
    "status": {"podIP": "127.0.0.12"},
}
CONFIGMAPS = {("games", "settings"): {"data": {"MODE": "fast", "LEVEL": "3"}}}
SECRETS = {
    ("games", "token"): {"data": {"token": base64.b64encode(b"s3cret").decode()}},
}


def get_cm(ns: str, name: str) -> dict | None:
    return CONFIGMAPS.get((ns, name))


def get_secret(ns: str, name: str) -> dict | None:
    return SECRETS.get((ns, name))


def test_variable_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("cost $5", env) == "cost $5"
    assert expand("$(A", env) == "$(A"


def test_env_from_envfrom_values_and_references() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "GREETING", "value": "mode=$(CFG_MODE)"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
        ],
        "resources": {"limits": {"memory": "256Mi"}},
    }
    env = build_env(POD, container, get_cm, get_secret)
    assert env["CFG_MODE"] == "fast" and env["CFG_LEVEL"] == "3"
    assert env["GREETING"] == "mode=fast"
    assert env["TOKEN"] == "s3cret"
    assert env["POD"] == "room-0" and env["IP"] == "127.0.0.12" and env["APP"] == "room"
    assert env["MEM"] == "256"


def test_missing_references_fail_unless_optional() -> None:
    container = {"name": "c", "envFrom": [{"secretRef": {"name": "nope"}}]}
    with pytest.raises(ContainerConfigError, match='secret "nope" not found'):
        build_env(POD, container, get_cm, get_secret)
    container = {"name": "c", "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]}
    assert build_env(POD, container, get_cm, get_secret) == {}
    container = {
        "name": "c",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "no"}}}],
    }
    with pytest.raises(ContainerConfigError, match="couldn't find key no"):
        build_env(POD, container, get_cm, get_secret)


def test_command_line_uses_the_image_entrypoint_unless_command_is_set() -> None:
    env = {"PORT": "8080"}
    default = ("python", "-m", "gameserver")
    assert command_line({"args": ["serve", "--port", "$(PORT)"]}, env, default) == [
        "python",
        "-m",
        "gameserver",
        "serve",
        "--port",
        "8080",
    ]
    assert command_line({"command": ["sleep"], "args": ["5"]}, env, default) == ["sleep", "5"]
    with pytest.raises(ContainerConfigError, match="no command"):
        command_line({"name": "c"}, env, ())


def test_volumes_become_directories_and_paths_are_rewritten(tmp_path: pathlib.Path) -> None:
    config = SandboxConfig(state_dir=tmp_path)
    pvc = {
        "metadata": {"name": "data", "namespace": "games", "uid": "0123456789"},
        "status": {"phase": "Bound"},
    }
    pod = {
        **POD,
        "spec": {
            "volumes": [
                {"name": "config", "configMap": {"name": "settings"}},
                {"name": "secret", "secret": {"secretName": "token", "defaultMode": 0o400}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "scratch", "emptyDir": {}},
            ]
        },
    }
    volumes = materialize_volumes(
        pod,
        tmp_path / "pods" / "games" / "room-0",
        state_dir=tmp_path,
        pvc_root=config.pvc_dir,
        get_configmap=get_cm,
        get_secret=get_secret,
        get_pvc=lambda ns, name: pvc if name == "data" else None,
    )
    assert (volumes["config"] / "MODE").read_text() == "fast"
    assert (volumes["secret"] / "token").read_bytes() == b"s3cret"
    assert (volumes["secret"] / "token").stat().st_mode & 0o777 == 0o400
    assert volumes["data"].is_dir() and config.pvc_dir in volumes["data"].parents
    container = {
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/gameroom"},
        ]
    }
    mounts = mount_map(container, volumes)
    assert rewrite_path("/data/room.db", mounts) == f"{volumes['data']}/room.db"
    assert rewrite_path("--db=/data/room.db", mounts) == f"--db={volumes['data']}/room.db"
    assert rewrite_path("/etc/gameroom", mounts) == str(volumes["config"])
    assert rewrite_path("/database", mounts) == "/database"
    assert rewrite_path("/etc/passwd", mounts) == "/etc/passwd"


def test_unbound_claims_and_missing_configmaps_block_the_pod(tmp_path: pathlib.Path) -> None:
    pod = {**POD, "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "x"}}]}}
    with pytest.raises(ContainerConfigError, match="not bound"):
        materialize_volumes(
            pod,
            tmp_path,
            state_dir=tmp_path,
            pvc_root=tmp_path / "pvc",
            get_configmap=get_cm,
            get_secret=get_secret,
            get_pvc=lambda ns, name: {"metadata": {"name": "x"}, "status": {"phase": "Pending"}},
        )


def view(state: dict, done: bool = False, restarts: int = 0) -> ContainerView:
    return ContainerView("c", "img", state=state, done=done, restart_count=restarts)


def test_pod_phase_from_container_states() -> None:
    running = view({"running": {}})
    ok = view({"terminated": {"exitCode": 0}}, done=True)
    failed = view({"terminated": {"exitCode": 2}}, done=True)
    waiting = view({"waiting": {"reason": "ContainerCreating"}})
    backoff = view({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=2)
    init_running = ContainerView("i", "img", init=True, state={"running": {}})
    assert compute_phase([], [waiting], "Always") == "Pending"
    assert compute_phase([], [running], "Always") == "Running"
    assert compute_phase([], [backoff], "Always") == "Running"
    assert compute_phase([], [ok], "Never") == "Succeeded"
    assert compute_phase([], [ok, failed], "Never") == "Failed"
    assert compute_phase([init_running], [waiting], "Always") == "Pending"
    init_failed = ContainerView(
        "i", "img", init=True, state={"terminated": {"exitCode": 1}}, done=True
    )
    assert compute_phase([init_failed], [waiting], "Never") == "Failed"


def test_crash_loop_back_off_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, 10, 300) for n in range(8)]
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]
    assert should_restart("Always", 0) and should_restart("OnFailure", 1)
    assert not should_restart("OnFailure", 0) and not should_restart("Never", 1)


def test_qos_class_from_resources() -> None:
    assert qos_class([{"name": "a"}]) == "BestEffort"
    assert qos_class([{"resources": {"requests": {"cpu": "100m"}}}]) == "Burstable"
    both = {"cpu": "1", "memory": "1Gi"}
    assert qos_class([{"resources": {"limits": both}}]) == "Guaranteed"
    assert qos_class(
        [{"resources": {"limits": both, "requests": {"cpu": "1", "memory": "1Gi"}}}]
    ) == ("Guaranteed")


def test_config_file_rules_come_before_the_built_in_ones(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "sandbox.yaml"
    path.write_text(
        """
virtualPods: true
backoffBaseSeconds: 0.5
unmatchedImages: fail
imageRules:
  - image: "example.com/web:*"
    command: [python, -m, http.server]
    env: {A: "1"}
    versionEnv: WEB_VERSION
  - image: "ghcr.io/drawgame/gameroom:0.*"
    mode: virtual
"""
    )
    config = SandboxConfig.load(path, state_dir=tmp_path, virtual_pods=False)
    assert config.virtual_pods and config.backoff_base_seconds == 0.5
    assert config.unmatched_image_mode == "fail"
    web = config.rule_for("example.com/web:2.1")
    assert web is not None and web.default_command == ("python", "-m", "http.server")
    assert web.env == (("A", "1"),) and web.version_env == "WEB_VERSION"
    old = config.rule_for("ghcr.io/drawgame/gameroom:0.9")
    assert old is not None and old.mode == "virtual"
    current = config.rule_for("ghcr.io/drawgame/gameroom:1.4.0")
    assert current is not None and current.mode == "process"
    assert current.default_command == ("python", "-m", "gameserver")
    assert current.version_env == "GAMESERVER_VERSION"
    assert config.rule_for("docker.io/library/nginx:1") is None
    assert ImageRule.image_tag("ghcr.io/drawgame/gameroom:1.4.0") == "1.4.0"
    assert ImageRule.image_tag("localhost:5000/app") == "latest"
    assert ImageRule.image_tag("app:2@sha256:abc") == "2"
    assert config.log_path("ns", "pod", "c", previous=True) == (
        tmp_path / "pods" / "ns" / "pod" / "c.previous.log"
    )


def test_config_errors_say_what_to_fix(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("imageRules:\n  - mode: process\n")
    with pytest.raises(ValueError, match="needs an 'image' glob pattern"):
        SandboxConfig.load(path, state_dir=tmp_path)
    path.write_text("imageRules:\n  - {image: 'x:*', mode: docker}\n")
    with pytest.raises(ValueError, match="mode 'docker' is not one of"):
        SandboxConfig.load(path, state_dir=tmp_path)
    path.write_text("unmatchedImages: process\n")
    with pytest.raises(ValueError, match="unmatchedImages must be"):
        SandboxConfig.load(path, state_dir=tmp_path)
    with pytest.raises(ValueError, match="cannot read sandbox config"):
        SandboxConfig.load(tmp_path / "missing.yaml", state_dir=tmp_path)
    assert SandboxConfig.load(None, state_dir=tmp_path, virtual_pods=True).virtual_pods
