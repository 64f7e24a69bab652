"""The image and the tooling around it: Dockerfile hadolint-clean and built for a non-root,
read-only root filesystem; what its build stage packages; `make e2e-kind` shellcheck-clean
and its dry run printing every step."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .chart import ROOT

BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "Dockerfile"


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing from the venv: run make venv (test extra)"
    return str(path)


def test_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_dockerfile_builds_a_non_root_multi_stage_image_with_oci_labels() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert re.search(r"^USER 10001:10001$", text, re.M)
    for label in ("title", "version", "revision", "source", "licenses", "created"):
        assert f"org.opencontainers.image.{label}=" in text
    # Read-only root filesystem: bytecode compiled at build time, none written at run time,
    # and HOME on the /tmp volume the Pods mount.
    assert "--compile" in text and "PYTHONDONTWRITEBYTECODE=1" in text
    assert "HOME=/tmp" in text
    assert 'CMD ["gameserver", "serve"]' in text


@pytest.fixture(scope="module")
def image_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel the Dockerfile's build stage makes, from exactly the paths it copies."""
    context = tmp_path_factory.mktemp("context")
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.M)
    for line in copied:
        for name in line.split():
            source = ROOT / name
            target = context / name
            if source.is_dir():
                subprocess.run(["cp", "-r", str(source), str(target)], check=True)
            else:
                target.write_bytes(source.read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(context / "dist"), str(context)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (context / "dist").glob("gameroom_operator-*.whl")
    return zipfile.ZipFile(wheel)


def test_image_carries_the_product_with_both_entrypoints(image_wheel: zipfile.ZipFile) -> None:
    names = image_wheel.namelist()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"gameserver", "gameroom_operator"}
    assert any(n.startswith("gameserver/static/") for n in names)  # the web client
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = image_wheel.read(entry_points).decode()
    assert "gameserver = gameserver.cli:main" in scripts
    assert "gameroom-operator = gameroom_operator.__main__:main" in scripts


def test_e2e_kind_script_is_shellcheck_clean() -> None:
    scripts = sorted(str(p) for p in (ROOT / "tools").glob("*.sh"))
    result = subprocess.run(
        [tool("shellcheck"), *scripts], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_e2e_kind_dry_run_prints_every_step_in_order() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "e2e-kind.sh"), "--dry-run", "--", "-k", "create"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "KIND_CLUSTER": "e2e-test"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    commands = [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]
    # The auto-heal and rollout tests' stand-in room: one image per mode, built and loaded.
    standin = [c for c in commands if "drawgame.test/sickroom:" in c and not c.startswith("env ")]
    modes = sorted({c.split("drawgame.test/sickroom:")[1].split()[0] for c in standin})
    assert {"crash", "db-fails", "healthy", "healthy.2", "sick-once"} <= set(modes), modes
    for mode in modes:
        assert (
            f"docker build --tag drawgame.test/sickroom:{mode} --build-arg MODE={mode} "
            "tests/test_operator/standins/sickroom"
        ) in standin
        assert f"kind load docker-image drawgame.test/sickroom:{mode} --name e2e-test" in standin
    assert len(standin) == 2 * len(modes)
    commands = [c for c in commands if c not in standin]
    expected = [
        "kind create cluster --name e2e-test",
        "docker build --tag ghcr.io/drawgame/gameroom:0.1.0",
        "kind load docker-image ghcr.io/drawgame/gameroom:0.1.0 --name e2e-test",
        "kubectl --kubeconfig",
        "kubectl --kubeconfig",
        "helm install gameroom charts/gameroom-operator",
        "kubectl --kubeconfig",
        "helm test gameroom",
        "docker inspect",
        "ip route replace 10.244.0.0/16 via NODE_IP",
        "env KUBECONFIG=",
        "ip route del 10.244.0.0/16",
        "kind delete cluster --name e2e-test",
    ]
    assert len(commands) == len(expected), result.stdout
    for command, start in zip(commands, expected, strict=True):
        assert command.removeprefix("sudo ").startswith(start), (command, start)
    assert commands[10].endswith("tests/test_operator --cluster=kubeconfig -q -k create")
    assert "SICKROOM_IMAGE=drawgame.test/sickroom" in commands[10]
    assert "apply --server-side -f charts/gameroom-operator/crds/" in commands[3]


def build_wheel(source: Path, into: Path) -> zipfile.ZipFile:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(into), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = into.glob("*.whl")
    return zipfile.ZipFile(wheel)


def entry_points(wheel: zipfile.ZipFile) -> str:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    return wheel.read(name).decode()


def test_root_distribution_is_the_product_and_registers_no_pytest_plugin(
    tmp_path: Path,
) -> None:
    """Built from a copy of the repository root, kubesandbox folder included."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (repo / name).write_bytes((ROOT / name).read_bytes())
    for name in ("gameserver", "operator", "kubesandbox"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(repo / name)], check=True)
    product = build_wheel(repo, tmp_path / "product")
    packages = {n.split("/")[0] for n in product.namelist() if ".dist-info/" not in n}
    assert packages == {"gameserver", "gameroom_operator"}
    scripts = entry_points(product)
    assert "pytest11" not in scripts and "kubesandbox" not in scripts
    # The development tool is a distribution of its own, with the plugin and the command.
    sandbox = build_wheel(repo / "kubesandbox", tmp_path / "sandbox")
    assert any(n.startswith("kubesandbox/network/shim/") for n in sandbox.namelist())
    assert "kubesandbox = kubesandbox.testing" in entry_points(sandbox)
    assert "kubesandbox = kubesandbox.__main__:main" in entry_points(sandbox)
