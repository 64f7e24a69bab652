"""orjson for Kopf's watch streams: the same objects and errors as json, installed in Kopf."""

from __future__ import annotations

import json

import pytest
from gameroom_operator import fastjson

POD_EVENT = json.dumps(
    {
        "type": "MODIFIED",
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "lobby-7d9f",
                "labels": {"app.kubernetes.io/instance": "lobby"},
                "annotations": {"note": "ünïcødé ✓"},
                "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}],
            },
            "spec": {"containers": [{"name": "game", "resources": {"limits": {"cpu": 0.5}}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.7", "restartCount": 0},
        },
    }
)


def test_decodes_what_json_decodes() -> None:
    assert fastjson.loads(POD_EVENT) == json.loads(POD_EVENT)
    assert fastjson.loads(POD_EVENT.encode()) == json.loads(POD_EVENT)


def test_falls_back_to_json_for_what_orjson_refuses() -> None:
    value = fastjson.loads('{"x": NaN, "big": 123456789012345678901234567890}')
    assert value["big"] == 123456789012345678901234567890
    assert value["x"] != value["x"]  # NaN, as json gives it
    with pytest.raises(json.JSONDecodeError):
        fastjson.loads('{"truncated": ')


def test_installed_in_kopfs_watch_stream_decoder() -> None:
    from kopf._cogs.clients import api

    assert fastjson.install()
    assert fastjson.install()  # twice is harmless
    assert api.json.loads is fastjson.loads
    assert api.json.loads(POD_EVENT) == json.loads(POD_EVENT)
