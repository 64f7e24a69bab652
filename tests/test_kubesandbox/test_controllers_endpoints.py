"""Endpoints and EndpointSlices from a Service and its Pods."""

from __future__ import annotations

from kubesandbox.controllers.endpoints_logic import (
    endpoint_slice_body,
    endpoints_subsets,
    ready_backends,
)


def service(**spec: object) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "games"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            **spec,
        },
    }


def pod(name: str, ip: str, ready: bool, labels: dict | None = None, port: int = 8080) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "games",
            "uid": name,
            "labels": labels or {"app": "web"},
        },
        "spec": {
            "nodeName": "sandbox-node",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_ready_and_not_ready_addresses_with_named_target_port() -> None:
    pods = [
        pod("a", "127.0.0.11", True),
        pod("b", "127.0.0.12", False),
        pod("other", "127.0.0.13", True, {"app": "db"}),
    ]
    subsets = endpoints_subsets(service(), pods)
    assert subsets == [
        {
            "addresses": [
                {
                    "ip": "127.0.0.11",
                    "nodeName": "sandbox-node",
                    "targetRef": {"kind": "Pod", "namespace": "games", "name": "a", "uid": "a"},
                }
            ],
            "notReadyAddresses": [
                {
                    "ip": "127.0.0.12",
                    "nodeName": "sandbox-node",
                    "targetRef": {"kind": "Pod", "namespace": "games", "name": "b", "uid": "b"},
                }
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ]


def test_terminating_pods_and_pods_without_ip_are_left_out() -> None:
    gone = pod("a", "127.0.0.11", True)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pending = pod("b", "", False)
    assert endpoints_subsets(service(), [gone, pending]) == []


def test_slice_conditions_and_proxy_backends() -> None:
    pods = [pod("a", "127.0.0.11", True), pod("b", "127.0.0.12", False)]
    endpoints, ports = endpoint_slice_body(service(), pods)
    assert ports == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert [e["conditions"]["ready"] for e in endpoints] == [True, False]
    slices = [{"endpoints": endpoints, "ports": ports}]
    assert ready_backends(slices, {"name": "http", "port": 80}) == [("127.0.0.11", 8080)]


def test_publish_not_ready_addresses() -> None:
    pods = [pod("b", "127.0.0.12", False)]
    subsets = endpoints_subsets(service(publishNotReadyAddresses=True), pods)
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["127.0.0.12"]
