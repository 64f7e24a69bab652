"""gameserver.testing.ServerProcess: the helper every process-level test relies on."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gameserver.testing import ServerProcess, ServerStartError


def test_ports_chosen_by_the_os_are_learned_and_kept_across_a_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, {"roomName": "helper-room"}, admin_token="helper-token")
    with server:
        assert server.port > 0 and server.admin_port > 0 and server.port != server.admin_port
        assert server.get("/api/room")["name"] == "helper-room"
        assert server.admin("GET", "/admin/maintenance")["enabled"] is False
        first_pid, url = server.pid, server.url
        server.restart(signal.SIGKILL)
        assert server.pid != first_pid and server.url == url and server.starts == 2
        assert server.get("/api/room")["name"] == "helper-room"
        assert "helper-token" not in server.log_text()  # the admin token is never logged
    assert not server.running
    assert server.stop() == 0  # SIGTERM exits cleanly; a second stop only reports it
    assert any(entry.get("event") == "room_stopped" for entry in server.log_entries())


def test_a_server_that_cannot_start_reports_its_own_error(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, {"roomName": "broken", "game": {"rounds": "many"}})
    with pytest.raises(ServerStartError, match="exited with 2") as failure:
        server.start(timeout=20)
    assert "rounds" in str(failure.value)  # the log tail names the bad setting
    assert not server.running
