"""The chart's alert rules in a real Prometheus server (Debian's `prometheus`) on loopback,
scraping real processes labelled as the chart's ServiceMonitors label them: a game server
(job="gameroom", namespace, room) and the operator (job="gameroom-operator") running a
room in kubesandbox. A stopped room, a room the operator reports Failed (a name conflict), and
a stopped operator each fire their alert.

Every `for:` is shortened to 5 s here; promtool's unit tests cover the real durations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gameserver.testing import ServerProcess

from .helpers import install_crds, running_operator, running_prometheus, wait_for

pytestmark = pytest.mark.slow


def test_a_stopped_room_fires_game_room_down(tmp_path: Path) -> None:
    room = ServerProcess(tmp_path / "room", {"roomName": "friday"})
    room.start()
    try:
        target = {
            "targets": [f"127.0.0.1:{room.port}"],
            "labels": {"namespace": "games", "room": "friday"},
        }
        scrape = [{"job_name": "gameroom", "static_configs": [target]}]
        with running_prometheus(tmp_path / "prometheus", scrape) as prometheus:
            up = 'up{job="gameroom", room="friday"}'
            wait_for("the room's first scrape", lambda: prometheus.value(up) == "1")
            prometheus.evaluations("GameRoomDown", 3)
            assert prometheus.alerts("GameRoomDown", "firing") == []

            room.stop()

            (alert,) = wait_for(
                "GameRoomDown to fire", lambda: prometheus.alerts("GameRoomDown", "firing")
            )
    finally:
        if room.running:
            room.stop()
    assert alert["labels"]["room"] == "friday" and alert["labels"]["namespace"] == "games"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["reason"] == "Unreachable"
    assert alert["annotations"]["summary"] == "GameRoom games/friday is unreachable"
    assert alert["annotations"]["runbook_url"].endswith("docs/runbook.md#gameroomdown")


@pytest.mark.integration
def test_operator_reporting_a_failed_room_then_stopping_fires_its_alerts(
    kube_sandbox: Any, tmp_path: Path
) -> None:
    install_crds(kube_sandbox)
    namespace = "prometheus-e2e"
    kube_sandbox.kubectl("create", "namespace", namespace)
    with running_operator(kube_sandbox, namespace, tmp_path / "operator.log") as operator:
        scrape = [
            {
                "job_name": "gameroom-operator",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{operator.port}"]}],
            }
        ]
        with running_prometheus(tmp_path / "prometheus", scrape) as prometheus:
            wait_for(
                "the operator's first scrape",
                lambda: prometheus.value('up{job="gameroom-operator"}') == "1",
            )
            prometheus.evaluations("GameRoomOperatorDown", 3)
            assert prometheus.alerts("GameRoomDown", "firing") == []
            assert prometheus.alerts("GameRoomOperatorDown", "firing") == []

            # A room whose ConfigMap's name someone else's object already has: the
            # operator refuses to take it over and reports the room Failed (NameConflict).
            kube_sandbox.kubectl(
                "-n", namespace, "create", "configmap", "sick-config", "--from-literal=a=b"
            )
            kube_sandbox.kubectl(
                "-n",
                namespace,
                "apply",
                "-f",
                "-",
                input="apiVersion: drawgame.dev/v1alpha1\nkind: GameRoom\nmetadata: {name: sick}\n",
            )

            def failed_room_alert() -> list[dict[str, Any]]:
                return prometheus.alerts("GameRoomDown", "firing")

            try:
                (down,) = wait_for("GameRoomDown for the Failed room", failed_room_alert)
            except AssertionError as error:
                room = kube_sandbox.kubectl(
                    "-n", namespace, "get", "gameroom", "sick", "-o", "yaml"
                )
                gauge = prometheus.value('gameroom_operator_rooms{phase="Failed"}')
                log = operator.log_path.read_text()[-4000:]
                raise AssertionError(
                    f"{error}\nFailed gauge: {gauge}\n{room.stdout}\noperator log:\n{log}"
                ) from None
            assert down["labels"]["reason"] == "Failed"
            assert down["annotations"]["summary"] == "1 GameRoom(s) Failed"

            operator.stop()

            (gone,) = wait_for(
                "GameRoomOperatorDown to fire",
                lambda: prometheus.alerts("GameRoomOperatorDown", "firing"),
            )
    assert gone["labels"]["severity"] == "warning"
    assert gone["annotations"]["runbook_url"].endswith("#gameroomoperatordown")
