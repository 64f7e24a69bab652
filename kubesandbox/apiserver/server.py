"""The HTTP face of the API server (aiohttp): routing, content negotiation, list/watch,
subresources, discovery, OpenAPI, the request log and persistence."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import os
import signal
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import structlog
import yaml
from aiohttp import web

from .. import fastjson
from . import discovery, errors, openapi, protobuf, tables
from .access import Access, request_attributes
from .auth import Authenticator, Credentials, UserInfo
from .builtin_schemas import remove_fields, type_error, unknown_fields
from .core import PATCH_APPLY, ApiCore, DeleteOptions, _micro_now
from .errors import ApiError
from .events import CORE_EVENTS, EVENTS_V1, to_core, to_v1
from .faults import FaultPlan, KillPoint
from .patching import json_patch, merge_patch
from .persistence import StateFiles
from .resources import REVIEW_KINDS, ResourceType
from .selectors import (
    fields_match,
    label_selector_to_string,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from .store import Store, WatchEvent

log = structlog.get_logger("kubesandbox.apiserver")

JSON_CT = "application/json"
PROTOBUF_CT = "application/vnd.kubernetes.protobuf"
VERSION_INFO = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0-kubesandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}
BOOKMARK_INTERVAL = float(os.environ.get("KUBESANDBOX_BOOKMARK_SECONDS", "5"))
PERSIST_INTERVAL = 0.5


def _dumps(obj: Any) -> bytes:
    return fastjson.dumps(obj)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_dumps(obj), status=status, content_type=JSON_CT, headers=headers)


def _error_response(exc: ApiError) -> web.Response:
    return _json(exc.status(), status=exc.code)


class RequestInfo:
    __slots__ = (
        "verb",
        "namespace",
        "resource",
        "subresource",
        "name",
        "group",
        "version",
        "warnings",
    )

    def __init__(self) -> None:
        self.verb = ""
        self.namespace = ""
        self.resource = ""
        self.subresource = ""
        self.name = ""
        self.group = ""
        self.version = ""
        # Warning headers for the response (kept here: a missing key in the request's
        # own mapping costs an exception on every request)
        self.warnings: list[str] = []


INFO = web.RequestKey("info", RequestInfo)
USER = web.RequestKey("user", UserInfo)


class ApiServer:
    """kube-apiserver's API over HTTP on loopback, backed by an in-memory store."""

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        persist: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        secure_port: int = 0,
        watch_history: int = 50_000,
        request_log_size: int = 200_000,
        service_cidr: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.persist = persist and state_dir is not None
        self.host = host
        self.port = port
        self.store = Store(history_size=watch_history)
        self.state_files: StateFiles | None = None
        if self.persist:
            self._load()
        # Tokens, signing key and serving certificate; under the state dir so that a
        # restarted sandbox keeps accepting the tokens it issued.
        self._pki_tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="ksb-pki-")
        pki = state_dir / "pki" if state_dir else Path(self._pki_tmp.name)  # type: ignore[union-attr]
        self.credentials = Credentials(pki)
        self.core = ApiCore(self.store, service_cidr=service_cidr, ca_pem=self.credentials.ca_pem)
        self.access = Access(self.store, Authenticator(self.store, self.credentials))
        self.secure_port = secure_port
        self.requests: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=request_log_size
        )
        # Injected API faults (faults.py): off unless the config or PUT /sandbox/v1/faults
        # sets a rate.
        self.faults = FaultPlan()
        self.killpoint: KillPoint | None = None
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 << 20)
        self._routes()
        self._runner: web.AppRunner | None = None
        self._persist_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._openapi_cache: dict[tuple[str, str], tuple[int, bytes, str]] = {}

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def secure_url(self) -> str:
        """The TLS endpoint Pods reach as KUBERNETES_SERVICE_HOST/PORT (in-cluster config)."""
        return f"https://{self.host}:{self.secure_port}"

    @property
    def admin_token(self) -> str:
        return self.credentials.admin_token

    def kubeconfig(self, namespace: str = "default") -> str:
        """A kubeconfig for the admin: TLS (kubectl sends no token over plain HTTP)."""
        ca_data = base64.b64encode(self.credentials.ca_pem.encode()).decode()
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: kubesandbox\n"
            "  cluster:\n"
            f"    server: {self.secure_url}\n"
            f"    certificate-authority-data: {ca_data}\n"
            "contexts:\n"
            "- name: kubesandbox\n"
            "  context:\n"
            "    cluster: kubesandbox\n"
            "    user: kubesandbox\n"
            f"    namespace: {namespace}\n"
            "current-context: kubesandbox\n"
            "preferences: {}\n"
            "users:\n"
            "- name: kubesandbox\n"
            "  user:\n"
            f"    token: {self.admin_token}\n"
        )

    async def start(self) -> str:
        self.store.dirty = asyncio.Event()
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.credentials.cert_file, self.credentials.key_file)
        secure = web.TCPSite(
            self._runner, self.host, self.secure_port, backlog=1024, ssl_context=tls
        )
        await secure.start()
        self.secure_port = secure._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.persist:
            self._persist_task = asyncio.create_task(self._persist_loop())
        log.info("apiserver.started", url=self.url, persist=self.persist)
        return self.url

    async def stop(self) -> None:
        self._stopping.set()
        for watchers in list(self.store.watchers.values()):
            for w in list(watchers):
                w.push(None)
        if self._persist_task is not None:
            self._persist_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._persist_task
        if self.persist and self.state_files is not None:
            self.state_files.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._pki_tmp is not None:
            self._pki_tmp.cleanup()
        log.info("apiserver.stopped")

    # ------------------------------------------------------------ persistence
    @property
    def _snapshot_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "apiserver" / "objects.json"

    def _load(self) -> None:
        assert self.state_dir is not None
        self.state_files = StateFiles(self.store, self.state_dir / "apiserver")
        if self._snapshot_path.exists() or self.state_files.journal_path.exists():
            restored = self.state_files.load()
            log.info("apiserver.restored", objects=restored, resource_version=self.store.rv)

    def _save(self) -> None:
        """Write what changed since the last save (a journal line per object)."""
        if self.state_files is not None:
            self.state_files.flush()

    async def _persist_loop(self) -> None:
        assert self.store.dirty is not None
        while True:
            await self.store.dirty.wait()
            self.store.dirty.clear()
            # Coalesce a burst of writes: an object written ten times in this window is
            # saved once. A save costs time in proportion to the objects changed.
            await asyncio.sleep(PERSIST_INTERVAL)
            try:
                self._save()
            except OSError as exc:
                log.error(
                    "apiserver.persist_failed",
                    error=str(exc),
                    hint="check that the state directory is writable",
                )

    # ------------------------------------------------------------ middleware / log
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        info = RequestInfo()
        request[INFO] = info
        fault: str | None = None
        try:
            if not request.path.startswith("/sandbox/"):
                # The sandbox's own endpoints (request log, info) are not Kubernetes API.
                user = request[USER] = self.access.user_of(request.headers)
                if not user.privileged:  # system:masters: no need to work out the request
                    self.access.check(
                        user, request_attributes(request.method, request.path, request.query)
                    )
            fault = self._draw_fault(request)
            response: web.StreamResponse = await self._serve(request, handler, fault)
        except ApiError as exc:
            response = _error_response(exc)
        except web.HTTPException as exc:
            if exc.status == 404:
                response = _error_response(
                    ApiError(404, "the server could not find the requested resource", details={})
                )
            else:
                raise
        except Exception as exc:
            log.exception("apiserver.internal_error", path=request.path)
            response = _error_response(ApiError(500, f"Internal error occurred: {exc}"))
        if self.killpoint is not None and response.status < 400:
            self._maybe_kill(request, info)
        if not request.path.startswith("/sandbox/"):
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.query_string,
                    "contentType": request.headers.get("Content-Type", ""),
                    "userAgent": request.headers.get("User-Agent", ""),
                    "verb": info.verb,
                    "namespace": info.namespace,
                    "resource": info.resource,
                    "subresource": info.subresource,
                    "name": info.name,
                    "group": info.group,
                    "version": info.version,
                    "code": response.status,
                    "time": time.time(),
                    "fault": fault,
                }
            )
        return response

    # ------------------------------------------------------------ injected faults
    def _draw_fault(self, request: web.Request) -> str | None:
        if not self.faults.enabled or not request.path.startswith(("/api/", "/apis/")):
            return None
        return self.faults.draw(
            request.method,
            _truthy(request.query.get("watch")),
            _namespace_of(request.path),
            request.headers.get("User-Agent", ""),
        )

    async def _serve(
        self, request: web.Request, handler: Any, fault: str | None
    ) -> web.StreamResponse:
        """Serve the request, or the injected fault instead of (or around) it."""
        if fault is None:
            return await handler(request)
        log.info("apiserver.fault_injected", fault=fault, method=request.method, path=request.path)
        if fault == "error":
            raise ApiError(500, "Internal error occurred: injected by kubesandbox (faults)")
        if fault == "conflict":
            raise ApiError(
                409,
                "Operation cannot be fulfilled: the object has been modified; please apply "
                "your changes to the latest version and try again (injected by kubesandbox)",
                reason="Conflict",
            )
        if fault == "throttle":
            seconds = self.faults.retry_after_seconds
            response = _error_response(
                ApiError(429, "Too many requests, please try again later (injected)")
            )
            response.headers["Retry-After"] = str(seconds)
            return response
        if fault == "gone":
            stream = web.StreamResponse(headers={"Content-Type": JSON_CT})
            await stream.prepare(request)
            status = errors.gone("too old resource version (injected by kubesandbox)").status()
            await stream.write(_dumps({"type": "ERROR", "object": status}) + b"\n")
            await stream.write_eof()
            return stream
        if fault == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        elif fault == "reset" and request.transport is not None:
            transport = request.transport
            asyncio.get_running_loop().call_later(self.faults.reset_delay(), transport.abort)
        return await handler(request)

    def _maybe_kill(self, request: web.Request, info: RequestInfo) -> None:
        point = self.killpoint
        if point is None or not point.due(
            request.method, info.resource, info.subresource, request.headers.get("User-Agent", "")
        ):
            return
        point.fired = True
        log.info("apiserver.killpoint_fired", **point.to_dict(), path=request.path)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(point.pid, signal.SIGKILL)

    async def _get_killpoint(self, request: web.Request) -> web.Response:
        return _json(self.killpoint.to_dict() if self.killpoint else {})

    async def _put_killpoint(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            self.killpoint = KillPoint.from_dict(body) if body else None
        except ValueError as exc:
            return _json({"error": str(exc)}, status=400)
        return _json(self.killpoint.to_dict() if self.killpoint else {})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return _json(self.faults.to_dict())

    async def _put_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults = FaultPlan.from_dict(await request.json())
        except ValueError as exc:  # also a body that is not JSON
            return _json({"error": str(exc)}, status=400)
        log.info("apiserver.faults_set", **self.faults.to_dict())
        return _json(self.faults.to_dict())

    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/version", self._version)
        r.add_get("/version/", self._version)
        for path in ("/healthz", "/livez", "/readyz"):
            r.add_get(path, self._health)
        r.add_get("/api", self._api_versions)
        r.add_get("/apis", self._apis)
        r.add_get("/openapi/v3", self._openapi_index)
        r.add_get("/openapi/v3/{path:.*}", self._openapi_doc)
        r.add_get("/sandbox/v1/requests", self._get_requests)
        r.add_delete("/sandbox/v1/requests", self._clear_requests)
        r.add_get("/sandbox/v1/info", self._sandbox_info)
        r.add_get("/sandbox/v1/faults", self._get_faults)
        r.add_put("/sandbox/v1/faults", self._put_faults)
        r.add_get("/sandbox/v1/killpoint", self._get_killpoint)
        r.add_put("/sandbox/v1/killpoint", self._put_killpoint)
        r.add_route("*", "/api/{rest:.*}", self._dispatch_core)
        r.add_route("*", "/apis/{rest:.*}", self._dispatch_groups)

    async def _version(self, request: web.Request) -> web.Response:
        return _json(VERSION_INFO)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _get_requests(self, request: web.Request) -> web.Response:
        return _json({"items": list(self.requests)})

    async def _clear_requests(self, request: web.Request) -> web.Response:
        self.requests.clear()
        return _json({"cleared": True})

    async def _sandbox_info(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.url,
                "resourceVersion": self.store.rv,
                "objects": sum(self.store.count(k) for k in self.store.data),
                "watchers": sum(len(w) for w in self.store.watchers.values()),
                "stateDir": str(self.state_dir) if self.state_dir else None,
                "persistent": self.persist,
            }
        )

    # ------------------------------------------------------------ discovery
    def _wants_aggregated(self, request: web.Request) -> str | None:
        accept = request.headers.get("Accept", "")
        if "as=APIGroupDiscoveryList" not in accept:
            return None
        first = accept.split(",")[0]
        if "v=v2beta1" in first:
            return discovery.AGGREGATED_CT_BETA
        if "as=APIGroupDiscoveryList" in first:
            return discovery.AGGREGATED_CT
        return None

    async def _api_versions(self, request: web.Request) -> web.Response:
        request[INFO].verb = "get"
        ct = self._wants_aggregated(request)
        if ct:
            body = discovery.aggregated(
                self.core.groups(), self.core.by_gv, core=True, beta="v2beta1" in ct
            )
            return web.Response(body=_dumps(body), headers={"Content-Type": ct})
        return _json(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}
                ],
            }
        )

    async def _apis(self, request: web.Request) -> web.Response:
        request[INFO].verb = "get"
        ct = self._wants_aggregated(request)
        if ct:
            body = discovery.aggregated(
                self.core.groups(), self.core.by_gv, core=False, beta="v2beta1" in ct
            )
            return web.Response(body=_dumps(body), headers={"Content-Type": ct})
        return _json(discovery.api_group_list(self.core.groups()))

    # ------------------------------------------------------------ openapi
    def _gv_doc(self, group: str, version: str) -> tuple[bytes, str]:
        types = list(self.core.by_gv.get((group, version), {}).values())
        cached = self._openapi_cache.get((group, version))
        stamp = hash(tuple((rt.plural, id(rt)) for rt in types))
        if cached and cached[0] == stamp:
            return cached[1], cached[2]
        doc = _dumps(openapi.gv_document(group, version, types))
        digest = openapi.doc_hash(doc)
        self._openapi_cache[(group, version)] = (stamp, doc, digest)
        return doc, digest

    async def _openapi_index(self, request: web.Request) -> web.Response:
        gvs = sorted(self.core.by_gv)
        hashes = {gv: self._gv_doc(*gv)[1] for gv in gvs}
        return _json(openapi.v3_index(gvs, hashes))

    async def _openapi_doc(self, request: web.Request) -> web.Response:
        parts = request.match_info["path"].strip("/").split("/")
        if parts[:1] == ["api"] and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[:1] == ["apis"] and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            raise ApiError(404, "the server could not find the requested resource", details={})
        if (group, version) not in self.core.by_gv:
            raise ApiError(404, "the server could not find the requested resource", details={})
        doc, _ = self._gv_doc(group, version)
        return web.Response(
            body=doc, content_type=JSON_CT, headers={"Cache-Control": "no-cache, private"}
        )

    # ------------------------------------------------------------ resource dispatch
    async def _dispatch_core(self, request: web.Request) -> web.StreamResponse:
        parts = [unquote(p) for p in request.match_info["rest"].strip("/").split("/") if p]
        if not parts:
            return await self._api_versions(request)
        return await self._dispatch(request, "", parts[0], parts[1:])

    async def _dispatch_groups(self, request: web.Request) -> web.StreamResponse:
        parts = [unquote(p) for p in request.match_info["rest"].strip("/").split("/") if p]
        if not parts:
            return await self._apis(request)
        group = parts[0]
        if len(parts) == 1:
            request[INFO].verb = "get"
            versions = self.core.groups().get(group)
            if not versions or not group:
                raise ApiError(404, "the server could not find the requested resource", details={})
            return _json(
                {"kind": "APIGroup", "apiVersion": "v1", **discovery.group_entry(group, versions)}
            )
        return await self._dispatch(request, group, parts[1], parts[2:])

    async def _dispatch(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        info: RequestInfo = request[INFO]
        info.group, info.version = group, version
        if not rest:
            info.verb = "get"
            types = self.core.by_gv.get((group, version))
            if types is None:
                raise ApiError(404, "the server could not find the requested resource", details={})
            return _json(discovery.resource_list(group, version, list(types.values())))
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource", details={})
        rt = self.core.lookup(group, version, plural)
        if not rt.namespaced and ns:
            raise ApiError(404, "the server could not find the requested resource", details={})
        info.namespace, info.resource, info.name, info.subresource = ns, plural, name, sub
        if sub and sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource", details={})
        method = request.method
        if rt.key == EVENTS_V1:
            return await self._events_v1(request, rt, version, ns, name)
        review = REVIEW_KINDS.get(rt.key)
        if review is not None:
            if method != "POST" or name:
                raise ApiError(
                    405,
                    f"the server does not allow this method on the requested resource ({method})",
                    reason="MethodNotAllowed",
                )
            info.verb = "create"
            answer = self.access.review(
                review[0], rt.group, ns, await self._body(request), request[USER]
            )
            return _json(answer, status=201)
        if not name:
            if method == "GET":
                if _truthy(request.query.get("watch")):
                    info.verb = "watch"
                    return await self._watch(request, rt, version, ns or None)
                info.verb = "list"
                return self._list(request, rt, version, ns or None)
            if method == "POST":
                info.verb = "create"
                return await self._create(request, rt, version, ns)
            if method == "DELETE":
                info.verb = "deletecollection"
                return await self._delete_collection(request, rt, version, ns)
            raise ApiError(
                405,
                f"the server does not allow this method on the requested resource ({method})",
                reason="MethodNotAllowed",
            )
        if rt.namespaced and not ns:
            raise ApiError(404, "the server could not find the requested resource", details={})
        if sub == "log" and method == "GET":
            info.verb = "get"
            return await self._pod_log(request, rt, ns, name)
        if sub == "scale":
            return await self._scale(request, rt, version, ns, name)
        if sub == "token" and method == "POST":
            info.verb = "create"
            body = await self._body(request)
            return _json(self.access.token_request(ns, name, body), status=201)
        if sub in ("eviction", "binding") and method == "POST":
            info.verb = "create"
            return await self._pod_action(request, rt, ns, name, sub)
        if method == "GET":
            info.verb = "get"
            obj = self.core.out(rt, self.core.get(rt, ns, name), version)
            if _wants_table(request):
                return _json(
                    tables.to_table(rt, version, [obj], include_object=_include_object(request))
                )
            return _json(obj)
        if method == "PUT":
            info.verb = "update"
            body = await self._body(request)
            self._field_validation(request, rt, version, body)
            manager = self._manager(request)
            subresource = sub if sub in ("status",) else None
            if sub == "finalize":
                subresource = None
            obj = self.core.update(
                rt,
                version,
                ns,
                name,
                body,
                subresource=subresource,
                manager=manager,
                dry_run=_dry(request),
                consume=True,
            )
            return _json(self.core.out(rt, obj, version))
        if method == "PATCH":
            info.verb = "patch"
            return await self._patch(request, rt, version, ns, name, sub or None)
        if method == "DELETE":
            info.verb = "delete"
            return await self._delete(request, rt, version, ns, name)
        raise ApiError(
            405,
            f"the server does not allow this method on the requested resource ({method})",
            reason="MethodNotAllowed",
        )

    # ------------------------------------------------------------ helpers
    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        ct = request.headers.get("Content-Type", JSON_CT).split(";")[0].strip()
        if ct == PROTOBUF_CT:
            return protobuf.decode_object(raw)
        if "protobuf" in ct or "cbor" in ct:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json, application/yaml, {PROTOBUF_CT}",
                reason="UnsupportedMediaType",
            )
        try:
            if ct in ("application/yaml", "application/x-yaml", "text/yaml"):
                return yaml.safe_load(raw.decode())
            return fastjson.loads(raw or b"{}")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"the object provided is unrecognized: {exc}") from exc

    def _manager(self, request: web.Request) -> str:
        manager = request.query.get("fieldManager")
        if manager:
            return manager
        agent = request.headers.get("User-Agent", "unknown")
        return agent.split("/")[0][:128] or "unknown"

    def _field_validation(
        self, request: web.Request, rt: ResourceType, version: str, body: Any
    ) -> list[str]:
        """Unknown fields: dropped (as decoding does), reported per `fieldValidation`."""
        if not isinstance(body, dict):
            return []
        mode = request.query.get("fieldValidation", "Warn")
        node = self.core.schema_node(rt, version)
        if not node.schema:
            return []
        self._check_types(rt, version, body)
        unknown = unknown_fields(body, node)
        if not unknown:
            return []
        if mode == "Strict":
            raise errors.bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown)
            )
        if not rt.is_crd:
            remove_fields(body, unknown)
        if mode == "Warn":
            request[INFO].warnings = [f'unknown field "{p}"' for p in unknown]
        return unknown

    def _check_types(self, rt: ResourceType, version: str, body: Any) -> None:
        """Values of the wrong JSON type in a built-in kind fail decoding, as in Go."""
        if rt.is_crd or not isinstance(body, dict):
            return
        found = type_error(body, self.core.schema_node(rt, version), rt.kind)
        if found:
            raise errors.bad_request(
                f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: {found}'
            )

    def _with_warnings(self, request: web.Request, response: web.Response) -> web.Response:
        for w in request[INFO].warnings:
            response.headers.add("Warning", f'299 - "{w}"'.replace('""', '"'))
        return response

    # ------------------------------------------------------------ events.k8s.io/v1
    async def _events_v1(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str
    ) -> web.StreamResponse:
        """events.k8s.io/v1 Events: the core/v1 Events, converted on the way in and out."""
        info: RequestInfo = request[INFO]
        core_rt = self.core.types[CORE_EVENTS]
        method = request.method
        if not name and method == "GET":
            if _truthy(request.query.get("watch")):
                info.verb = "watch"
                return await self._watch(request, rt, version, ns or None, convert=to_v1)
            info.verb = "list"
            return self._list(request, rt, version, ns or None, convert=to_v1)
        if not name and method == "POST":
            info.verb = "create"
            body = await self._body(request)
            if not isinstance(body, dict):
                raise errors.bad_request("the object provided is not a JSON object")
            ns = ns or (body.get("metadata") or {}).get("namespace") or ""
            obj = self.core.create(core_rt, None, ns, to_core(body), manager=self._manager(request))
            return _json(to_v1(obj), status=201)
        if not name:
            raise ApiError(405, f"the server does not allow this method ({method})")
        if method == "GET":
            info.verb = "get"
            return _json(to_v1(self.core.get(core_rt, ns, name)))
        if method in ("PUT", "PATCH"):
            info.verb = "update" if method == "PUT" else "patch"
            if method == "PUT":
                body = await self._body(request)
            else:
                current = to_v1(self.core.get(core_rt, ns, name))
                raw = fastjson.loads(await request.read())
                ct = request.headers.get("Content-Type", "")
                body = json_patch(current, raw) if "json-patch" in ct else merge_patch(current, raw)
            updated = self.core.update(
                core_rt, None, ns, name, to_core(body), manager=self._manager(request)
            )
            return _json(to_v1(updated))
        if method == "DELETE":
            info.verb = "delete"
            raw = await request.read()
            opts = self._delete_options(request, fastjson.loads(raw) if raw.strip() else None)
            return _json(to_v1(self.core.delete(core_rt, ns, name, opts)))
        raise ApiError(405, f"the server does not allow this method ({method})")

    # ------------------------------------------------------------ list / get
    def _list(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        ns: str | None,
        convert: Any = None,
    ) -> web.Response:
        """`convert`: rt is a view of another resource's objects (events.k8s.io/v1)."""
        q = request.query
        label_reqs = parse_label_selector(q.get("labelSelector"))
        field_reqs = parse_field_selector(q.get("fieldSelector"), rt.plural, rt.group)
        source = self.store.iter(CORE_EVENTS if convert else rt.key, ns)
        items = [
            o
            for o in (map(convert, source) if convert else source)
            if labels_match(label_reqs, o["metadata"].get("labels")) and fields_match(field_reqs, o)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        list_rv = str(self.store.rv)
        start = q.get("continue")
        if start:
            try:
                token = json.loads(base64.urlsafe_b64decode(start.encode()))
                after = (token["ns"], token["name"])
            except (ValueError, KeyError) as exc:
                raise errors.bad_request(f"invalid continue token: {exc}") from exc
            if int(token.get("rv", 0)) < self.store.compacted_rv:
                raise errors.gone(
                    "The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without "
                    "the continue parameter."
                )
            items = [
                o
                for o in items
                if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after
            ]
            list_rv = str(token.get("rv", list_rv))
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        limit = int(q.get("limit", "0") or 0)
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(
                _dumps({"rv": int(list_rv), "ns": last.get("namespace", ""), "name": last["name"]})
            ).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        api_version = rt.api_version(version)
        if _wants_table(request):
            out = [self.core.out(rt, o, version) for o in items]
            return _json(
                tables.to_table(
                    rt, version, out, include_object=_include_object(request), list_meta=meta
                )
            )
        # Serialize stored objects directly; only the apiVersion may need rewriting.
        body = bytearray(
            b'{"kind":"'
            + rt.list_kind.encode()
            + b'","apiVersion":"'
            + api_version.encode()
            + b'","metadata":'
            + _dumps(meta)
            + b',"items":['
        )
        for i, o in enumerate(items):
            if i:
                body += b","
            body += _dumps(self.core.out(rt, o, version))
        body += b"]}"
        return web.Response(body=bytes(body), content_type=JSON_CT)

    # ------------------------------------------------------------ watch
    async def _watch(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        ns: str | None,
        convert: Any = None,
    ) -> web.StreamResponse:
        q = request.query
        label_reqs = parse_label_selector(q.get("labelSelector"))
        field_reqs = parse_field_selector(q.get("fieldSelector"), rt.plural, rt.group)
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        send_initial = _truthy(q.get("sendInitialEvents"))
        rv_param = q.get("resourceVersion", "")
        as_table = _wants_table(request)
        include = _include_object(request)
        api_version = rt.api_version(version)

        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            if convert is not None:
                obj = convert(obj)
            if ns is not None and obj["metadata"].get("namespace", "") != ns:
                return False
            return labels_match(label_reqs, obj["metadata"].get("labels")) and fields_match(
                field_reqs, obj
            )

        def encode(event: WatchEvent, etype: str) -> bytes:
            if as_table:
                shown = convert(event.obj) if convert else self.core.out(rt, event.obj, version)
                table = tables.to_table(rt, version, [shown], include_object=include)
                return _dumps({"type": etype, "object": table}) + b"\n"
            return event.encoded(api_version, etype, convert)

        def translate(event: WatchEvent) -> str | None:
            new_ok = matches(event.obj) if event.type != "DELETED" else False
            old_ok = matches(event.old)
            if event.type == "ADDED":
                return "ADDED" if new_ok else None
            if event.type == "DELETED":
                return "DELETED" if old_ok else None
            if new_ok and old_ok:
                return "MODIFIED"
            if new_ok:
                return "ADDED"
            if old_ok:
                return "DELETED"
            return None

        response = web.StreamResponse(
            headers={"Content-Type": JSON_CT, "Cache-Control": "no-cache, private"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        key = CORE_EVENTS if convert else rt.key
        watcher = self.store.subscribe(key)
        try:
            backlog: list[bytes] = []
            if rv_param in ("", "0") or send_initial:
                for obj in list(self.store.iter(key, ns)):
                    if matches(obj):
                        ev = WatchEvent(
                            "ADDED",
                            key,
                            obj["metadata"].get("namespace", ""),
                            obj if convert else self.core.out(rt, obj, version),
                            None,
                            int(obj["metadata"]["resourceVersion"]),
                        )
                        backlog.append(encode(ev, "ADDED"))
                if send_initial:
                    backlog.append(self._bookmark(api_version, rt, initial_end=True))
            else:
                try:
                    since = int(rv_param)
                except ValueError as exc:
                    raise errors.bad_request(f"invalid resourceVersion {rv_param!r}") from exc
                events = self.store.events_since(key, since)
                if events is None:
                    status = errors.gone(
                        f"too old resource version: {since} ({self.store.compacted_rv})"
                    ).status()
                    await response.write(_dumps({"type": "ERROR", "object": status}) + b"\n")
                    return response
                for ev in events:
                    etype = translate(ev)
                    if etype:
                        backlog.append(encode(ev, etype))
            if backlog:
                await response.write(b"".join(backlog))
            deadline = time.monotonic() + timeout
            while not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, BOOKMARK_INTERVAL) if bookmarks else remaining
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
                except TimeoutError:
                    if bookmarks and time.monotonic() < deadline:
                        await response.write(self._bookmark(api_version, rt))
                    continue
                if event is None:
                    break
                chunk = bytearray()
                while True:
                    etype = translate(event)
                    if etype:
                        chunk += encode(event, etype)
                    if watcher.queue.empty():
                        break
                    nxt = watcher.queue.get_nowait()
                    if nxt is None:
                        break
                    event = nxt
                if chunk:
                    await response.write(bytes(chunk))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response

    def _bookmark(self, api_version: str, rt: ResourceType, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return (
            _dumps(
                {
                    "type": "BOOKMARK",
                    "object": {"kind": rt.kind, "apiVersion": api_version, "metadata": meta},
                }
            )
            + b"\n"
        )

    # ------------------------------------------------------------ writes
    async def _create(
        self, request: web.Request, rt: ResourceType, version: str, ns: str
    ) -> web.Response:
        body = await self._body(request)
        if isinstance(body, dict) and rt.namespaced and not ns:
            ns = (body.get("metadata") or {}).get("namespace") or ""
            if not ns:
                raise ApiError(404, "the server could not find the requested resource", details={})
        self._field_validation(request, rt, version, body)
        obj = self.core.create(
            rt,
            version,
            ns,
            body,
            manager=self._manager(request),
            dry_run=_dry(request),
            consume=True,
        )
        return self._with_warnings(request, _json(self.core.out(rt, obj, version), status=201))

    async def _patch(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        ns: str,
        name: str,
        sub: str | None,
    ) -> web.Response:
        raw = await request.read()
        ct = request.headers.get("Content-Type", "").split(";")[0].strip()
        manager = request.query.get("fieldManager") or (
            None if ct == PATCH_APPLY else self._manager(request)
        )
        if ct != PATCH_APPLY and request.query.get("fieldValidation") == "Strict":
            with contextlib.suppress(ValueError):
                patch = fastjson.loads(raw or b"null")
                if isinstance(patch, dict):
                    self._field_validation(request, rt, version, patch)
        elif not rt.is_crd and not ct.startswith("application/json-patch"):
            # a merge, strategic or apply patch has the object's shape: check its types
            with contextlib.suppress(ValueError, yaml.YAMLError):
                patch = yaml.safe_load(raw.decode()) if ct == PATCH_APPLY else fastjson.loads(raw)
                self._check_types(rt, version, patch)
        obj, created = self.core.patch(
            rt,
            version,
            ns,
            name,
            raw,
            ct,
            subresource=sub,
            manager=manager,
            force=_truthy(request.query.get("force")),
            dry_run=_dry(request),
        )
        return _json(self.core.out(rt, obj, version), status=201 if created else 200)

    def _delete_options(self, request: web.Request, body: Any) -> DeleteOptions:
        q = request.query
        opts = DeleteOptions.from_body(body)
        if q.get("propagationPolicy"):
            opts.propagation = q["propagationPolicy"]
        if q.get("orphanDependents") == "true":
            opts.propagation = "Orphan"
        if q.get("gracePeriodSeconds"):
            opts.grace_period = int(q["gracePeriodSeconds"])
        if _dry(request):
            opts.dry_run = True
        opts.check()
        return opts

    async def _delete(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str
    ) -> web.Response:
        raw = await request.read()
        body = fastjson.loads(raw) if raw.strip() else None
        opts = self._delete_options(request, body)
        obj = self.core.delete(rt, ns, name, opts)
        status, answer = self.core.delete_answer(rt, version, ns, name, obj)
        return _json(answer, status=status)

    async def _delete_collection(
        self, request: web.Request, rt: ResourceType, version: str, ns: str
    ) -> web.Response:
        raw = await request.read()
        body = fastjson.loads(raw) if raw.strip() else None
        opts = self._delete_options(request, body)
        q = request.query
        label_reqs = parse_label_selector(q.get("labelSelector"))
        field_reqs = parse_field_selector(q.get("fieldSelector"), rt.plural, rt.group)
        deleted = []
        for obj in list(self.store.iter(rt.key, ns if rt.namespaced and ns else None)):
            if labels_match(label_reqs, obj["metadata"].get("labels")) and fields_match(
                field_reqs, obj
            ):
                with contextlib.suppress(ApiError):
                    deleted.append(
                        self.core.out(
                            rt,
                            self.core.delete(
                                rt,
                                obj["metadata"].get("namespace", ""),
                                obj["metadata"]["name"],
                                opts,
                            ),
                            version,
                        )
                    )
        return _json(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version(version),
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": deleted,
            }
        )

    # ------------------------------------------------------------ scale
    def _scale_object(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        assert rt.scale is not None
        spec_replicas = tables.jsonpath(obj, rt.scale.spec_replicas_path)
        status_replicas = tables.jsonpath(obj, rt.scale.status_replicas_path)
        selector = ""
        if rt.scale.label_selector_path:
            found = tables.jsonpath(obj, rt.scale.label_selector_path)
            if found:
                selector = (
                    label_selector_to_string(found[0])
                    if rt.scale.selector_is_label_selector
                    else str(found[0])
                )
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": int(status_replicas[0]) if status_replicas else 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": int(spec_replicas[0]) if spec_replicas else 0},
            "status": status,
        }

    async def _scale(
        self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str
    ) -> web.Response:
        info: RequestInfo = request[INFO]
        obj = self.core.get(rt, ns, name)
        current = self._scale_object(rt, obj)
        if request.method == "GET":
            info.verb = "get"
            return _json(current)
        if request.method == "PUT":
            info.verb = "update"
            wanted = await self._body(request)
        elif request.method == "PATCH":
            info.verb = "patch"
            raw = await request.read()
            ct = request.headers.get("Content-Type", "").split(";")[0].strip()
            patch = yaml.safe_load(raw.decode()) if ct == PATCH_APPLY else fastjson.loads(raw)
            wanted = (
                json_patch(current, patch)
                if ct.startswith("application/json-patch")
                else merge_patch(current, patch)
            )
        else:
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                reason="MethodNotAllowed",
            )
        rv = ((wanted or {}).get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name)
        replicas = ((wanted or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    errors.cause(
                        "FieldValueInvalid",
                        "spec.replicas",
                        f"Invalid value: {json.dumps(replicas)}: must be greater than or "
                        "equal to 0",
                    )
                ],
            )
        assert rt.scale is not None
        path = [p for p in rt.scale.spec_replicas_path.strip(".").split(".") if p]
        new = fastjson.loads(_dumps(obj))
        cur = new
        for p in path[:-1]:
            cur = cur.setdefault(p, {})
        cur[path[-1]] = replicas
        updated = self.core.update(
            rt, None, ns, name, new, manager=self._manager(request), consume=True
        )
        return _json(self._scale_object(rt, updated))

    # ------------------------------------------------------------ pods: eviction, binding, log
    async def _pod_action(
        self, request: web.Request, rt: ResourceType, ns: str, name: str, sub: str
    ) -> web.Response:
        body = await self._body(request)
        pod = self.core.get(rt, ns, name)
        if sub == "eviction":
            self.core.evict(pod, body)
        else:
            target = ((body or {}).get("target") or {}).get("name")
            if not target:
                raise errors.bad_request("binding target name is required")
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                raise ApiError(
                    409, f'pod {name} is already assigned to node "{node}"', reason="Conflict"
                )
            new = fastjson.loads(_dumps(pod))
            new["spec"]["nodeName"] = target
            conditions = [
                c
                for c in (new.get("status") or {}).get("conditions") or []
                if c.get("type") != "PodScheduled"
            ]
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastTransitionTime": _micro_now()[:19] + "Z",
                }
            )
            new.setdefault("status", {})["conditions"] = conditions
            meta = new["metadata"]
            meta["resourceVersion"] = str(self.store.next_rv())
            self.store.put(rt.key, new, "MODIFIED")
        return _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            },
            status=201,
        )

    def _log_path(self, ns: str, pod: str, container: str, previous: bool) -> Path | None:
        if self.state_dir is None:
            return None
        suffix = ".previous.log" if previous else ".log"
        return self.state_dir / "pods" / ns / pod / f"{container}{suffix}"

    async def _pod_log(
        self, request: web.Request, rt: ResourceType, ns: str, name: str
    ) -> web.StreamResponse:
        q = request.query
        pod = self.core.get(rt, ns, name)
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        container = q.get("container")
        if not container:
            default = (pod["metadata"].get("annotations") or {}).get(
                "kubectl.kubernetes.io/default-container"
            )
            if default in names:
                container = default
            elif len(names) == 1:
                container = names[0]
            else:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(names)}]"
                    + (
                        f" or one of the init containers: [{' '.join(init_names)}]"
                        if init_names
                        else ""
                    )
                )
        if container is None or container not in names + init_names:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        previous = _truthy(q.get("previous"))
        path = self._log_path(ns, name, container, previous)
        if (
            (path is None or not path.exists())
            and not previous
            and _container_started(pod, container)
        ):
            return web.Response(body=b"", content_type="text/plain")
        if path is None or not path.exists():
            if previous:
                raise errors.bad_request(
                    f'previous terminated container "{container}" in pod "{name}" not found'
                )
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            )
        data = path.read_bytes()
        tail = q.get("tailLines")
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(tail) :]) if int(tail) > 0 else b""
        limit = q.get("limitBytes")
        if limit:
            data = data[: int(limit)]
        if not _truthy(q.get("follow")):
            return web.Response(body=data, content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(data)
        offset = path.stat().st_size
        uid = pod["metadata"]["uid"]
        try:
            while not self._stopping.is_set():
                await asyncio.sleep(0.2)
                size = path.stat().st_size if path.exists() else 0
                if size > offset:
                    with path.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset)
                    offset = size
                    await response.write(chunk)
                    continue
                current = self.store.get(rt.key, ns, name)
                if current is None or current["metadata"]["uid"] != uid:
                    break
                if _container_finished(current, container):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


def _container_finished(pod: dict[str, Any], container: str) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return True
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container and "terminated" in (cs.get("state") or {}):
            return True
    return False


def _container_started(pod: dict[str, Any], container: str) -> bool:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        if cs.get("name") == container and ("running" in state or "terminated" in state):
            return True
    return False


def _namespace_of(path: str) -> str:
    """The namespace in a request path (/api/v1/namespaces/NS/..., /apis/G/V/namespaces/NS/...)."""
    parts = path.split("/")
    for index, part in enumerate(parts[:-1]):
        if part == "namespaces" and index in (3, 4):
            return unquote(parts[index + 1])
    return ""


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _dry(request: web.Request) -> bool:
    return request.query.get("dryRun") == "All"


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept


def _include_object(request: web.Request) -> str:
    return request.query.get("includeObject", "Metadata")
