"""Sandbox configuration: where state lives, how Pod images map to local processes.

The defaults know this project's own image (see docs/CONTRACT.md), so `kubesandbox up`
with no configuration already runs the game server and the operator as local processes.
"""

from __future__ import annotations

import fnmatch
import pathlib
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from kubesandbox.apiserver.faults import FaultPlan
from kubesandbox.network.slots import NetworkSlot

RuleMode = Literal["process", "virtual", "fail"]
_MODES: tuple[str, ...] = ("process", "virtual", "fail")


@dataclass(frozen=True)
class ImageRule:
    """Maps container images matching a glob pattern to how the kubelet runs them.

    mode "process" runs the container's command + args as a local process (the word
    ``python`` as the executable means the sandbox's own interpreter); ``default_command``
    stands in for the image's entrypoint when the container has no ``command``.
    mode "virtual" marks the container running without a process; mode "fail" reports
    ErrImagePull, as a cluster does for an image it cannot pull.
    """

    pattern: str
    mode: RuleMode = "process"
    default_command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    version_env: str | None = None

    def matches(self, image: str) -> bool:
        return fnmatch.fnmatchcase(image, self.pattern)

    @staticmethod
    def image_tag(image: str) -> str:
        """The tag of an image reference (``latest`` when none is given)."""
        name = image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        return last.rsplit(":", 1)[1] if ":" in last else "latest"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ImageRule:
        if not isinstance(raw, dict) or not isinstance(raw.get("image"), str):
            raise ValueError(
                f"image rule {raw!r} needs an 'image' glob pattern, e.g. image: 'example.com/app:*'"
            )
        mode = raw.get("mode", "process")
        if mode not in _MODES:
            raise ValueError(
                f"image rule for {raw['image']!r}: mode {mode!r} is not one of {', '.join(_MODES)}"
            )
        command = raw.get("command") or ()
        if not isinstance(command, list | tuple) or not all(isinstance(c, str) for c in command):
            raise ValueError(f"image rule for {raw['image']!r}: command must be a list of strings")
        env = raw.get("env") or {}
        if not isinstance(env, dict):
            raise ValueError(f"image rule for {raw['image']!r}: env must be a mapping")
        return cls(
            pattern=raw["image"],
            mode=mode,
            default_command=tuple(command),
            env=tuple((str(k), str(v)) for k, v in env.items()),
            version_env=raw.get("versionEnv"),
        )


DEFAULT_IMAGE_RULES: tuple[ImageRule, ...] = (
    ImageRule(
        pattern="ghcr.io/drawgame/gameroom:*",
        mode="process",
        default_command=("python", "-m", "gameserver"),
        version_env="GAMESERVER_VERSION",
    ),
)


@dataclass
class SandboxConfig:
    """Everything the controllers, kubelet and network pieces need to know."""

    state_dir: pathlib.Path
    virtual_pods: bool = False
    image_rules: list[ImageRule] = field(default_factory=lambda: list(DEFAULT_IMAGE_RULES))
    # What the kubelet does with a Pod whose image matches no rule.
    unmatched_image_mode: RuleMode = "virtual"
    # CrashLoopBackOff: the kubelet waits base * 2**n seconds (capped) before a restart.
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    # A container that ran this long without failing has its back-off reset.
    backoff_reset_seconds: float = 600.0
    node_name: str = "sandbox-node"
    # At sandbox shutdown a Pod gets min(its grace period, this) between SIGTERM and SIGKILL.
    shutdown_grace_seconds: float = 10.0
    python_executable: str = sys.executable
    # The loopback blocks of this sandbox (see kubesandbox.network.slots); the
    # ControllerManager claims one when this is None.
    network_slot: NetworkSlot | None = None

    def rule_for(self, image: str) -> ImageRule | None:
        for rule in self.image_rules:
            if rule.matches(image):
                return rule
        return None

    @property
    def pods_dir(self) -> pathlib.Path:
        return self.state_dir / "pods"

    @property
    def pvc_dir(self) -> pathlib.Path:
        return self.state_dir / "pvc"

    @property
    def network_dir(self) -> pathlib.Path:
        return self.state_dir / "network"

    def log_path(
        self, namespace: str, pod: str, container: str, previous: bool = False
    ) -> pathlib.Path:
        suffix = ".previous.log" if previous else ".log"
        return self.pods_dir / namespace / pod / f"{container}{suffix}"

    @classmethod
    def load(
        cls,
        path: pathlib.Path | None,
        *,
        state_dir: pathlib.Path,
        virtual_pods: bool = False,
    ) -> SandboxConfig:
        """Build the config from an optional YAML file; flags win over the file.

        File keys (all optional): ``virtualPods``, ``unmatchedImages`` (process is not
        allowed; virtual or fail), ``backoffBaseSeconds``, ``backoffMaxSeconds``,
        ``nodeName`` and ``imageRules`` (a list of ``{image, mode, command, env,
        versionEnv}``; they are tried before the built-in rules). ``faults`` is the API
        server's (see load_faults).
        """
        raw: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(pathlib.Path(path).read_text())
            except OSError as exc:
                raise ValueError(f"cannot read sandbox config {path}: {exc}") from exc
            except yaml.YAMLError as exc:
                raise ValueError(f"sandbox config {path} is not valid YAML: {exc}") from exc
            if loaded is not None and not isinstance(loaded, dict):
                raise ValueError(f"sandbox config {path} must be a mapping at the top level")
            raw = loaded or {}
        rules_raw = raw.get("imageRules") or []
        if not isinstance(rules_raw, list):
            raise ValueError("sandbox config: imageRules must be a list")
        rules = [ImageRule.from_dict(r) for r in rules_raw] + list(DEFAULT_IMAGE_RULES)
        unmatched = raw.get("unmatchedImages", "virtual")
        if unmatched not in ("virtual", "fail"):
            raise ValueError(
                f"sandbox config: unmatchedImages must be 'virtual' or 'fail', not {unmatched!r}"
            )
        return cls(
            state_dir=pathlib.Path(state_dir),
            virtual_pods=bool(virtual_pods or raw.get("virtualPods", False)),
            image_rules=rules,
            unmatched_image_mode=unmatched,
            backoff_base_seconds=float(raw.get("backoffBaseSeconds", 10.0)),
            backoff_max_seconds=float(raw.get("backoffMaxSeconds", 300.0)),
            node_name=str(raw.get("nodeName", "sandbox-node")),
        )


def load_faults(path: pathlib.Path) -> FaultPlan:
    """The API faults to inject, from the config file's ``faults`` mapping (off without one):
    ``rate`` (0-1), ``kinds``, ``seed``, ``slowSeconds``, ``retryAfterSeconds``,
    ``resetAfterSeconds``, ``namespaces``, ``userAgents`` (apiserver/faults.py)."""
    try:
        raw = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read sandbox config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"sandbox config {path} must be a mapping at the top level")
    return FaultPlan.from_dict(raw.get("faults"))
