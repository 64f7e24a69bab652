"""Shared fixtures for the kubesandbox tests (the sandbox fixtures come from the
`kubesandbox.testing` pytest plugin)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubesandbox.apiserver import ApiServer
from kubesandbox.testing import Sandbox

HERE = Path(__file__).parent

GAMEROOM_CRD: dict[str, Any] = yaml.safe_load(
    """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: testrooms.sandbox.test
spec:
  group: sandbox.test
  scope: Namespaced
  names:
    plural: testrooms
    singular: testroom
    kind: TestRoom
    shortNames: [tr]
    categories: [sandboxtest]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - {name: Players, type: integer, jsonPath: .spec.game.maxPlayers}
    - {name: Phase, type: string, jsonPath: .status.phase}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        description: A room of the drawing game, for the sandbox tests.
        properties:
          spec:
            type: object
            required: [game]
            x-kubernetes-validations:
            - rule: "self.replicas <= 3"
              message: "replicas must be at most 3"
            - rule: "self.mode == oldSelf.mode"
              message: "mode cannot be changed"
            properties:
              replicas: {type: integer, default: 1, minimum: 0}
              version: {type: string, pattern: '^[0-9]+\\.[0-9]+$'}
              mode: {type: string, enum: [casual, ranked], default: casual}
              contact: {type: string, format: email}
              labelsCopy:
                type: object
                additionalProperties: {type: string}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              game:
                type: object
                description: Game settings.
                properties:
                  maxPlayers: {type: integer, minimum: 2, maximum: 24, default: 12,
                               description: Most players in the room.}
                  language: {type: string, minLength: 2, maxLength: 5, default: en}
                  customWords:
                    type: array
                    maxItems: 3
                    items: {type: string, maxLength: 8}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""
)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 15.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll `predicate` until it returns a truthy value; fail with `message` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


@pytest.fixture(scope="session")
def api(kube_sandbox: Sandbox) -> client.ApiClient:
    return kube_sandbox.api_client()


@pytest.fixture(scope="session")
def test_crd(api: client.ApiClient) -> dict[str, Any]:
    ext = client.ApiextensionsV1Api(api)
    try:
        ext.create_custom_resource_definition(GAMEROOM_CRD)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    wait_until(
        lambda: any(
            c.type == "Established" and c.status == "True"
            for c in (
                ext.read_custom_resource_definition("testrooms.sandbox.test").status.conditions
                or []
            )
        ),
        message="the test CRD to be Established",
    )
    return GAMEROOM_CRD


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = unique("ns")
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
async def local_api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    """An API server in this process (a real aiohttp server on loopback), for tests that
    need settings the shared sandbox does not have (tiny watch history, persistence)."""
    server = ApiServer(state_dir=tmp_path, port=0, watch_history=50)
    await server.start()
    yield server
    await server.stop()


def admin(server: ApiServer) -> dict[str, str]:
    """Headers of the sandbox's admin (for raw HTTP calls to an embedded ApiServer)."""
    return {"Authorization": f"Bearer {server.admin_token}"}


def http(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP call to the API server (for what the typed client cannot express)."""
    import urllib.error
    import urllib.request

    data = (
        body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    )
    req = urllib.request.Request(
        sandbox.url + path,
        data=data,
        method=method,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {sandbox.token}"} if sandbox.token else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
