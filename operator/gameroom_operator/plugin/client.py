"""How the plugin talks to the cluster: it runs the real `kubectl`.

Running kubectl (rather than a Python client) means the user's kubeconfig, contexts, exec
auth plugins, proxies and impersonation flags behave exactly as in their other kubectl
commands, and nothing beyond kubectl has to be installed next to the plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

GROUP = "drawgame.dev"
ROOM_RESOURCE = f"gamerooms.{GROUP}"


class PluginError(Exception):
    """A failure the user can act on; main() prints it and exits 1."""


class NotFoundError(PluginError):
    pass


def find_kubectl() -> str:
    """$KUBECTL when set (kubectl does not tell a plugin its own path), else kubectl on PATH."""
    explicit = os.environ.get("KUBECTL")
    if explicit:
        return explicit
    found = shutil.which("kubectl")
    if not found:
        raise PluginError("kubectl not found on PATH (set $KUBECTL to its path)")
    return found


@dataclass
class Kube:
    """kubectl with the user's -n/--context/--kubeconfig, as kubectl itself would take them."""

    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    request_timeout: str | None = None

    def base(self, namespaced: bool = True) -> list[str]:
        command = [find_kubectl()]
        if self.kubeconfig:
            command.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            command.append(f"--context={self.context}")
        if self.request_timeout:
            command.append(f"--request-timeout={self.request_timeout}")
        if namespaced and self.namespace:
            command.append(f"--namespace={self.namespace}")
        return command

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout: float | None = 120,
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                [*self.base(), *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise PluginError(f"kubectl {' '.join(args)} took longer than {timeout}s") from error
        if check and result.returncode != 0:
            raise error_of(result.stderr, args)
        return result

    def get(self, *args: str) -> dict[str, Any]:
        """`kubectl get ... -o json`, parsed."""
        return dict(json.loads(self.run("get", *args, "-o", "json").stdout))

    def maybe(self, *args: str) -> dict[str, Any] | None:
        try:
            return self.get(*args)
        except NotFoundError:
            return None

    def items(self, *args: str) -> list[dict[str, Any]]:
        return list(self.get(*args).get("items") or [])

    def room(self, name: str) -> dict[str, Any]:
        return self.get(ROOM_RESOURCE, name)

    def job_outcome(self, name: str) -> str | None:
        """ "Complete" or "Failed" once Job `name` has finished, else None."""
        status = self.get("job", name).get("status") or {}
        for item in status.get("conditions") or []:
            if item.get("status") == "True" and item.get("type") in ("Complete", "Failed"):
                return str(item["type"])
        return None

    def current_namespace(self) -> str:
        """The namespace kubectl would use: -n, else the context's, else default."""
        if self.namespace:
            return self.namespace
        result = self.run("config", "view", "--minify", "-o", "jsonpath={..namespace}", check=False)
        return result.stdout.strip() or "default"


def error_of(stderr: str, args: tuple[str, ...]) -> PluginError:
    message = stderr.strip() or f"kubectl {' '.join(args)} failed"
    if "(NotFound)" in message or "not found" in message:
        return NotFoundError(message)
    return PluginError(message)


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
