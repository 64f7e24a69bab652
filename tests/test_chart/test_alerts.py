"""The chart's alerts checked and unit-tested by the real promtool (Debian's `prometheus`
package; `make test` installs it), their runbook sections, and the metrics they read."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from gameroom_operator import metrics as operator_metrics

from gameserver.metrics import Metrics

from .chart import CHART, ROOT, VALUE_SETS, one, render

ALERTS = {
    "GameRoomDown",
    "GameRoomWebSocketFailing",
    "GameRoomSlow",
    "GameRoomBackupStale",
    "GameRoomBackupFailed",
    "GameRoomRolledBack",
    "GameRoomAutoHealExhausted",
    "GameRoomOperatorDown",
}
# Metrics of features still to come: the alerts and the dashboard read them under these
# names, and the chart README lists them ("fires once that feature lands").
COMING = {
    "gameroom_operator_backup_last_success_timestamp_seconds",
    "gameroom_operator_backups_total",
    "gameroom_operator_rollbacks_total",
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: install Debian's prometheus package (make system-deps)"
    return path


def rule_groups() -> list[dict[str, Any]]:
    return one(render(VALUE_SETS["monitoring"]), "PrometheusRule")["spec"]["groups"]


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    shutil.copy(Path(__file__).with_name("alerts_test.yaml"), tmp_path / "alerts_test.yaml")
    return tmp_path


def test_promtool_accepts_the_rules(rules_dir: Path) -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", "rules.yaml"],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_promtool_unit_tests_fire_each_alert_as_written(rules_dir: Path) -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yaml"],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (rules_dir / "alerts_test.yaml").read_text()))
    assert tested == ALERTS


def test_promtool_notices_a_wrong_threshold(rules_dir: Path) -> None:
    """The unit tests are not vacuous: a room slow only above 1 s fails them."""
    rules = (rules_dir / "rules.yaml").read_text()
    (rules_dir / "rules.yaml").write_text(rules.replace("> 0.25", "> 1", 1))
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yaml"],
        cwd=rules_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "alertname: GameRoomSlow" in result.stdout + result.stderr


def test_every_alert_has_severity_summary_description_and_runbook_section() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (\w+)", runbook, re.M)}
    assert {r["alert"] for r in alert_rules()} == ALERTS
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["labels"]["priority"] in ("P0", "P1", "P2"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert base.endswith("/docs/runbook.md") and anchor == rule["alert"].lower()
        assert anchor in anchors, f"docs/runbook.md has no section {rule['alert']}"


def exported_today() -> set[str]:
    names = {"up", "ALERTS"}
    for registry in (operator_metrics.REGISTRY, Metrics().registry):
        for family in registry.collect():
            # Labelled families have no samples until used: name them by their type.
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def test_alerts_and_dashboard_read_metrics_that_exist_or_are_announced() -> None:
    dashboard = (CHART / "files" / "grafana-dashboard.json").read_text()
    exprs = [r["expr"] for r in alert_rules()] + re.findall(r'"expr": "([^"]+)"', dashboard)
    read = set()
    for expr in exprs:
        read |= set(re.findall(r"\b(gameroom_\w+|up|ALERTS)\b", expr))
    unknown = read - exported_today() - COMING
    assert not unknown, f"metrics nobody exports: {sorted(unknown)}"
    readme = (CHART / "README.md").read_text()
    for name in COMING:
        assert name in readme, f"the chart README does not announce {name}"
    assert COMING - exported_today() <= read
