"""A small async Kubernetes API client on aiohttp (the operator's own calls; Kopf has its own).

It reads credentials the way the official client does (kubeconfig or in-cluster service
account) and counts every call by verb for the metrics.

Every incident on the way to the API server is logged here, once, as it happens (operator
README, "Logs: one line per incident"): an error answer other than 404 (`api_request_failed`),
a 429 waited out and sent again (`api_throttled`), a connection that failed or was cut
(`api_request_failed` with the error's type), a watch the server ended with an ERROR event
(`api_watch_error`, e.g. 410 Gone). The exception raised for it carries `logged = True`, so
a caller that only retries says so at debug level instead of logging the incident again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from . import __version__, fastjson, metrics

USER_AGENT = f"gameroom-operator/{__version__}"
# A throttled request (429) is sent again after the Retry-After the API server gives, at
# most this many times and never after more than THROTTLE_MAX_WAIT seconds.
THROTTLE_RETRIES = 3
THROTTLE_MAX_WAIT = 10.0

log = structlog.get_logger("gameroom_operator")


class ApiError(Exception):
    """The API server answered with an error status."""

    logged = False  # True once the client has logged it (mark_logged)

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        try:
            decoded = json.loads(body)
            self.reason = str(decoded.get("reason", ""))
            self.message = str(decoded.get("message", body))
        except (ValueError, AttributeError):
            self.reason = ""
            self.message = body[:500]
        super().__init__(f"{method} {path} -> {status}: {self.message}")

    @property
    def permanent(self) -> bool:
        """True when retrying the same request cannot succeed (invalid or forbidden)."""
        return self.status in (400, 403, 422)


@dataclass(frozen=True)
class Credentials:
    host: str
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


def load_credentials(kubeconfig: str | None = None) -> Credentials:
    """Credentials from the in-cluster service account, else from kubeconfig/KUBECONFIG."""
    from kubernetes import client, config  # imported lazily: slow to import

    configuration = client.Configuration()
    try:
        if kubeconfig:
            raise config.ConfigException("a kubeconfig was given")
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(
            config_file=kubeconfig or os.environ.get("KUBECONFIG") or None,
            client_configuration=configuration,
        )
    token = None
    auth = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    if auth:
        # A kubeconfig gives "Bearer <token>", the in-cluster loader "bearer <token>".
        scheme, _, value = auth.partition(" ")
        token = (value if scheme.lower() == "bearer" else auth).strip()
    return Credentials(
        host=configuration.host.rstrip("/"),
        token=token,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        verify=bool(configuration.verify_ssl),
    )


def api_path(
    api_version: str, kind_plural: str, namespace: str | None, name: str | None = None
) -> str:
    """The URL path of a collection or object; namespace None: across all namespaces."""
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace is not None else ""
    path = f"{prefix}{scope}/{kind_plural}"
    return f"{path}/{name}" if name else path


PLURALS = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Service": "services",
    "Deployment": "deployments",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "Event": "events",
    "Pod": "pods",
    "GameRoom": "gamerooms",
    "CronJob": "cronjobs",
    "Job": "jobs",
}


def object_path(manifest: dict[str, Any], name: str | None = None) -> str:
    meta = manifest["metadata"]
    return api_path(
        manifest["apiVersion"],
        PLURALS[manifest["kind"]],
        meta["namespace"],
        meta["name"] if name is None else name or None,
    )


class Kube:
    """Async JSON calls to the API server."""

    def __init__(self, credentials: Credentials, max_connections: int = 32) -> None:
        self._credentials = credentials
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> aiohttp.ClientSession:
        async with self._lock:
            if self._session is None or self._session.closed:
                creds = self._credentials
                ssl_context: ssl.SSLContext | bool = False
                if creds.host.startswith("https"):
                    ssl_context = ssl.create_default_context(cafile=creds.ca_file)
                    if not creds.verify:
                        ssl_context.check_hostname = False
                        ssl_context.verify_mode = ssl.CERT_NONE
                    if creds.cert_file and creds.key_file:
                        ssl_context.load_cert_chain(creds.cert_file, creds.key_file)
                headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
                if creds.token:
                    headers["Authorization"] = f"Bearer {creds.token}"
                self._session = aiohttp.ClientSession(
                    base_url=creds.host,
                    headers=headers,
                    connector=aiohttp.TCPConnector(ssl=ssl_context, limit=self._max_connections),
                    # No total: under load a call may queue for a pooled connection for a
                    # while; what must not stall is connecting and reading once sent.
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=60),
                )
            return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        session = await self._ensure()
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        for attempt in range(THROTTLE_RETRIES + 1):
            metrics.API_CALLS.labels(verb=method).inc()
            try:
                async with session.request(
                    method, path, data=data, headers=headers, params=params
                ) as r:
                    raw = await r.read()
                    if r.status < 400:
                        return fastjson.loads(raw) if raw else {}
                    metrics.API_ERRORS.labels(verb=method, code=str(r.status)).inc()
                    wait = _retry_after(r.status, r.headers.get("Retry-After"))
                    if wait is None or attempt == THROTTLE_RETRIES:
                        raise failed(
                            ApiError(r.status, method, path, raw.decode("utf-8", "replace"))
                        )
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                raise connection_failed(error, method, path) from error
            # Throttled (429): the API server says when to come back; as client-go does,
            # wait that long and send the same request again instead of failing the pass.
            log.info("api_throttled", method=method, path=path, retry_after=wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def text(self, path: str, params: dict[str, str] | None = None) -> str:
        """A plain-text GET (a Pod's log)."""
        session = await self._ensure()
        metrics.API_CALLS.labels(verb="GET").inc()
        try:
            async with session.get(path, params=params, headers={"Accept": "*/*"}) as r:
                raw = await r.read()
                if r.status >= 400:
                    metrics.API_ERRORS.labels(verb="GET", code=str(r.status)).inc()
                    raise failed(ApiError(r.status, "GET", path, raw.decode("utf-8", "replace")))
                return raw.decode("utf-8", "replace")
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise connection_failed(error, "GET", path) from error

    async def stream(self, path: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The decoded events of a watch request, one per line, until the server ends it."""
        session = await self._ensure()
        metrics.API_CALLS.labels(verb="WATCH").inc()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=None)
        try:
            async with session.get(path, params=params, timeout=timeout) as response:
                if response.status >= 400:
                    text = await response.text()
                    metrics.API_ERRORS.labels(verb="WATCH", code=str(response.status)).inc()
                    raise failed(ApiError(response.status, "WATCH", path, text))
                pending = b""
                async for chunk in response.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _watch_event(fastjson.loads(line), path)
                if pending.strip():
                    yield _watch_event(fastjson.loads(pending), path)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise connection_failed(error, "WATCH", path) from error

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", object_path(manifest, name=""), manifest)

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, patch, "application/merge-patch+json")

    async def delete(self, path: str) -> None:
        try:
            await self.request("DELETE", path, {"propagationPolicy": "Background"})
        except ApiError as error:
            if error.status != 404:
                raise


def failed(error: ApiError) -> ApiError:
    """Log an error answer once (404 is an answer, not an incident) and mark it logged."""
    if error.status != 404:
        # A conflict is routine (the caller reads again and decides again): info.
        level = log.info if error.status == 409 else log.warning
        level(
            "api_request_failed",
            method=error.method,
            path=error.path,
            status=error.status,
            reason=error.reason,
            message=error.message[:300],
        )
        error.logged = True
    return error


def connection_failed(error: BaseException, method: str, path: str) -> BaseException:
    """Log a failed or cut connection once and mark the exception logged."""
    if not getattr(error, "logged", False):
        log.warning("api_request_failed", method=method, path=path, error=type(error).__name__)
        mark_logged(error)
    return error


def mark_logged(error: BaseException) -> None:
    # An exception type with __slots__ cannot be marked: it is logged all the same.
    with contextlib.suppress(AttributeError):
        error.logged = True  # type: ignore[attr-defined]


def logged(error: BaseException) -> bool:
    """True when the client has already logged this failure (callers then log at debug)."""
    return bool(getattr(error, "logged", False))


def _watch_event(event: dict[str, Any], path: str) -> dict[str, Any]:
    """A watch event; an ERROR event (410 Gone: list again) is an incident of its own."""
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        log.info(
            "api_watch_error",
            path=path,
            status=status.get("code"),
            reason=status.get("reason"),
        )
    return event


def _retry_after(status: int, header: str | None) -> float | None:
    """Seconds to wait before sending a throttled request again, or None: not throttled."""
    if status != 429:
        return None
    try:
        seconds = float(header) if header else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), THROTTLE_MAX_WAIT)
