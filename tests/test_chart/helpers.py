"""Real processes for the chart's integration tests: the operator against kubesandbox, and
Debian's Prometheus server with the chart's rules, both on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .chart import CHART, VALUE_SETS, one, render

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def install_crds(sandbox: Any) -> None:
    """As `helm install` does first: the chart's CRDs, then wait until they are served."""
    sandbox.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
    sandbox.kubectl(
        "wait", "--for=condition=Established", "crd/gamerooms.drawgame.dev", "--timeout=60s"
    )


class Operator:
    """`python -m gameroom_operator` against a kubesandbox: one namespace, or every one when
    `namespace` is empty; with the sandbox's admin kubeconfig unless given another one."""

    def __init__(
        self,
        sandbox: Any,
        namespace: str,
        log_path: Path,
        kubeconfig: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        config = str(kubeconfig or sandbox.kubeconfig)
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        scope = [f"--namespaces={namespace}"] if namespace else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gameroom_operator", "--standalone", "--kubeconfig", config]
            + scope
            + ["--metrics-host", "127.0.0.1", f"--metrics-port={self.port}"]
            + ["--probe-interval", "1", "--log-format", "json", *extra],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": config},
        )
        wait_for("the operator's /healthz", self._healthy)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return str(response.read().decode())

    def _healthy(self) -> bool:
        assert self.process.poll() is None, self.log_path.read_text()[-3000:]
        return http_ok(f"http://127.0.0.1:{self.port}/healthz")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self._log.close()


@contextmanager
def running_operator(
    sandbox: Any,
    namespace: str,
    log_path: Path,
    kubeconfig: Path | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[Operator]:
    operator = Operator(sandbox, namespace, log_path, kubeconfig, extra)
    try:
        yield operator
    finally:
        operator.stop()


def chart_rules(for_duration: str = "5s") -> list[dict[str, Any]]:
    """The chart's rendered alert groups, every `for:` set to `for_duration` (the durations
    themselves are covered by promtool's unit tests)."""
    groups = one(render(VALUE_SETS["monitoring"]), "PrometheusRule")["spec"]["groups"]
    for group in groups:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_duration
    return list(groups)


class Prometheus:
    """Debian's Prometheus server on loopback, scraping every 2 s, with the chart's rules."""

    def __init__(self, workdir: Path, scrape_configs: list[dict[str, Any]]) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: install Debian's prometheus (make system-deps)"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": chart_rules()}))
        config = {
            "global": {
                # A scrape may take its whole interval on a busy machine: an alert needs
                # its condition through `for_duration`, i.e. three failed scrapes in a row.
                "scrape_interval": "2s",
                "evaluation_interval": "1s",
                "scrape_timeout": "2s",
            },
            "rule_files": ["rules.yaml"],
            "scrape_configs": scrape_configs,
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        wait_for("Prometheus to load the chart's rules", self._loaded)

    def _loaded(self) -> bool:
        assert self.process.poll() is None, self.log_path.read_text()[-3000:]
        return bool(self.last_evaluation("GameRoomDown"))

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310
                return json.loads(response.read())["data"]
        except (urllib.error.URLError, ConnectionError):
            return None

    def value(self, query: str) -> str | None:
        result = self.get("/api/v1/query?query=" + urllib.request.quote(query))
        return str(result["result"][0]["value"][1]) if result and result["result"] else None

    def alerts(self, name: str, state: str | None = None) -> list[dict[str, Any]]:
        data = self.get("/api/v1/alerts") or {"alerts": []}
        return [
            a
            for a in data["alerts"]
            if a["labels"]["alertname"] == name and state in (None, a["state"])
        ]

    def last_evaluation(self, name: str) -> str:
        """When the rule group holding `name` was last evaluated (RFC 3339)."""
        for group in (self.get("/api/v1/rules") or {"groups": []})["groups"]:
            if any(rule["name"] == name for rule in group["rules"]):
                return str(group["lastEvaluation"])
        return ""

    def evaluations(self, name: str, count: int) -> None:
        """Wait for `count` further evaluations of the rule group holding `name`."""
        for _ in range(count):
            before = self.last_evaluation(name)

            def again(before: str = before) -> bool:
                return self.last_evaluation(name) != before

            wait_for(f"an evaluation of {name}", again)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()


@contextmanager
def running_prometheus(workdir: Path, scrape_configs: list[dict[str, Any]]) -> Iterator[Prometheus]:
    prometheus = Prometheus(workdir, scrape_configs)
    try:
        yield prometheus
    finally:
        prometheus.stop()
