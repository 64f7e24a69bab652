"""`helm test`: apply a small GameRoom, wait for Ready, play the smoke test, delete the room.

Runs in the chart's test Pod (in-cluster credentials) or anywhere with a kubeconfig. Exits 0
when the room became Ready and the game's smoke test (join, draw, see the echo, leave)
passed against the room's URL; otherwise prints why and exits 1. The room is deleted in
every case.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "drawgame.dev", "v1alpha1", "gamerooms"


def say(message: str) -> None:
    print(f"helm-test: {message}", flush=True)


def connect() -> client.CustomObjectsApi:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CustomObjectsApi()


def room_manifest(name: str) -> dict:
    # Small and quick: two players, one round; every other setting has its default.
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GameRoom",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "helm-test"}},
        "spec": {"game": {"maxPlayers": 2, "rounds": 1}, "storage": {"size": "64Mi"}},
    }


def ready_condition(room: dict) -> dict:
    for condition in (room.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition
    return {}


def wait_ready(api: client.CustomObjectsApi, namespace: str, name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        room = cast(
            dict[str, Any],
            api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
        )
        status = room.get("status") or {}
        ready = ready_condition(room)
        phase, is_ready = status.get("phase", "-"), ready.get("status", "-")
        seen = f"phase={phase} ready={is_ready} {ready.get('message', '')}"
        if seen != last:
            say(seen.strip())
            last = seen
        if ready.get("status") == "True" and status.get("url"):
            return room
        if status.get("phase") == "Failed":
            raise RuntimeError(f"the room failed: {ready.get('message', '')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the room was not Ready within {timeout:.0f} s ({seen.strip()})")
        time.sleep(2)


def main() -> int:
    namespace = os.environ["ROOM_NAMESPACE"]
    name = os.environ["ROOM_NAME"]
    timeout = float(os.environ.get("READY_TIMEOUT_SECONDS", "180"))
    api = connect()
    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        say(f"deleted a leftover room {namespace}/{name}")
    except ApiException as error:
        if error.status != 404:
            raise
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, room_manifest(name))
    except ApiException as error:
        say(f"could not apply GameRoom {namespace}/{name}: {error.status} {error.reason}")
        if error.status == 404:
            say("the GameRoom API is not served: is the chart's CRD installed?")
        return 1
    say(f"applied GameRoom {namespace}/{name}")
    try:
        room = wait_ready(api, namespace, name, timeout)
        url = os.environ.get("ROOM_URL") or room["status"]["url"]
        say(f"Ready; smoke test against {url}")
        result = subprocess.run(
            [sys.executable, "-m", "gameserver", "smoke-test", "--url", url, "--timeout", "60"],
            check=False,
        )
        if result.returncode != 0:
            say(f"the smoke test failed (exit {result.returncode})")
            return 1
        say("passed")
        return 0
    except (RuntimeError, TimeoutError) as error:
        say(str(error))
        return 1
    finally:
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            say(f"deleted GameRoom {namespace}/{name}")
        except ApiException as error:
            say(f"could not delete GameRoom {namespace}/{name}: {error.reason}")


if __name__ == "__main__":
    sys.exit(main())
