"""The in-process transport: the controllers call the API server's core directly.

``LocalClient`` has the interface of :class:`~kubesandbox.controllers.client.ApiClient`
(``get``/``list``/``create``/``replace``/``patch``/``delete``/``watch`` on API paths, the
same ``ApiError`` with the same status codes), so the controllers, the kubelet and the
proxy do not know which one they use. What it saves is the loopback HTTP hop: no JSON
encoding of request bodies and responses, no HTTP parsing, and watch events are the
store's own objects instead of a JSON line decoded again by every informer.

Faithfulness: every write goes through ``ApiCore`` exactly as an HTTP write does
(admission, validation, defaulting, managedFields under the controller manager's field
manager, resourceVersions, watch events that every other watcher sees). Unknown fields
in created or replaced objects are not looked for by default (``field_validation``:
the controllers build their own bodies; the tests run them with "Strict" so that a stray
field fails), and requests are recorded in the API server's request log like HTTP ones.

Aliasing: the core never mutates a stored object (every write stores a new dict), and it
deep-copies request bodies (``create``/``update`` clone the body, ``patch`` decodes bytes).
Objects handed out here (responses and watch events) share their content with the stored
objects (only the top level and ``metadata`` are copied, see ``_hand_out``): callers
must treat them as read-only, as they already must for informer caches.
``LocalClient(audit=True)`` keeps a fingerprint of every object it hands out, and
``mutated()`` reports the ones changed since: the tests use it to check that no
controller writes into an object it was given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlencode

import structlog

from kubesandbox import fastjson
from kubesandbox.apiserver import errors as server_errors
from kubesandbox.apiserver.builtin_schemas import remove_fields, unknown_fields
from kubesandbox.apiserver.core import DeleteOptions, _clone, _micro_now
from kubesandbox.apiserver.errors import ApiError as ServerError
from kubesandbox.apiserver.resources import ResourceType
from kubesandbox.apiserver.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from kubesandbox.apiserver.store import WatchEvent
from kubesandbox.controllers.client import USER_AGENT, ApiError, ClientVerbs, Obj

if TYPE_CHECKING:
    from kubesandbox.apiserver.server import ApiServer

log = structlog.get_logger("kubesandbox.local")

BOOKMARK_SECONDS = 5.0
FieldValidation = Literal["Ignore", "Warn", "Strict"]


class Route:
    """A parsed API path: /api/v1/namespaces/NS/PLURAL/NAME/SUB and the /apis form."""

    __slots__ = ("rt", "version", "namespace", "name", "sub")

    def __init__(self, rt: ResourceType, version: str, namespace: str, name: str, sub: str):
        self.rt = rt
        self.version = version
        self.namespace = namespace
        self.name = name
        self.sub = sub


def _not_found() -> ServerError:
    return ServerError(404, "the server could not find the requested resource", details={})


def _shutting_down() -> ServerError:
    return ServerError(503, "the API server is shutting down", reason="ServiceUnavailable")


def split_path(path: str) -> tuple[str, str, str, str, str, str]:
    """(group, version, namespace, plural, name, subresource) of a resource path.

    Raises the API server's 404 for paths that name no resource, as the HTTP router does.
    """
    parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise _not_found()
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise _not_found()
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    return group, version, namespace, plural, name, sub


class LocalClient(ClientVerbs):
    """An ``ApiClient`` that calls ``server.core`` in this process instead of HTTP."""

    def __init__(
        self,
        server: ApiServer,
        *,
        user_agent: str = USER_AGENT,
        audit: bool = False,
        field_validation: FieldValidation = "Ignore",
    ) -> None:
        """``field_validation`` for created and replaced objects, as the HTTP query parameter:
        "Ignore" (the default: the controllers' own bodies have no unknown fields, which the
        tests check with "Strict"), "Warn" (dropped and logged, what HTTP does by default)
        or "Strict" (rejected with 400)."""
        if field_validation not in ("Ignore", "Warn", "Strict"):
            raise ValueError(
                f"field_validation must be Ignore, Warn or Strict, not {field_validation!r}"
            )
        self.field_validation = field_validation
        self.server = server
        self.core = server.core
        self.store = server.store
        self.user_agent = user_agent
        # What the server derives from the User-Agent header for managedFields.
        self.manager = user_agent.split("/")[0][:128] or "unknown"
        self._routes: dict[str, Route] = {}
        self._audit: list[tuple[Obj, bytes]] | None = [] if audit else None

    @property
    def api_url(self) -> str:
        """The API server's URL: what Pods (and their kubeconfig) use to reach it."""
        return self.server.url

    def _stopping(self) -> bool:
        stopping = getattr(self.server, "_stopping", None)
        return bool(stopping is not None and stopping.is_set())

    async def close(self) -> None:
        """Nothing to release: there is no connection pool."""

    # ------------------------------------------------------------ audit (tests)
    def _hand_out(self, obj: Obj) -> Obj:
        # The top level and metadata are copied: ApiCore's patch path writes resourceVersion,
        # generation and managedFields into the metadata dict of the object it replaces
        # (merge_patch shares untouched subtrees with it), which would change objects the
        # controllers hold. Deeper levels are never written into by the core.
        meta = obj.get("metadata")
        obj = {**obj, "metadata": dict(meta)} if isinstance(meta, dict) else dict(obj)
        if self._audit is not None:
            self._audit.append((obj, fastjson.dumps(obj)))
        return obj

    def mutated(self) -> list[Obj]:
        """Objects handed out (with ``audit=True``) that someone changed afterwards."""
        if self._audit is None:
            raise RuntimeError("mutated() needs LocalClient(audit=True)")
        return [obj for obj, seen in self._audit if fastjson.dumps(obj) != seen]

    # ------------------------------------------------------------ routing
    def _route(self, path: str) -> Route:
        route = self._routes.get(path)
        if route is not None and self.core.types.get(route.rt.key) is route.rt:
            return route
        group, version, ns, plural, name, sub = split_path(path)
        rt = self.core.lookup(group, version, plural)
        if not rt.namespaced and ns:
            raise _not_found()
        if sub and sub not in rt.subresources:
            raise _not_found()
        route = Route(rt, version, ns, name, sub)
        if len(self._routes) > 50_000:
            self._routes.clear()
        self._routes[path] = route
        return route

    def _log(
        self,
        method: str,
        path: str,
        verb: str,
        code: int,
        route: Route | None,
        params: dict[str, str] | None = None,
        content_type: str = "",
    ) -> None:
        self.server.requests.append(
            {
                "method": method,
                "path": path,
                "query": urlencode(params) if params else "",
                "contentType": content_type,
                "userAgent": self.user_agent,
                "verb": verb,
                "namespace": route.namespace if route else "",
                "resource": route.rt.plural if route else "",
                "subresource": route.sub if route else "",
                "name": route.name if route else "",
                "group": route.rt.group if route else "",
                "version": route.version if route else "",
                "code": code,
                "time": time.time(),
            }
        )

    # ------------------------------------------------------------ requests
    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API call, answered as the HTTP server would (status codes and Status bodies)."""
        route: Route | None = None
        verb = ""
        code = 200
        try:
            if self._stopping():
                raise ServerError(
                    503, "the API server is shutting down", reason="ServiceUnavailable"
                )
            route = self._route(path)
            verb = _verb(method, route)
            code, result = self._call(method, route, body, params, content_type)
            return result
        except ServerError as exc:
            code = exc.code
            raise ApiError(exc.code, exc.status(), method, path) from None
        except Exception as exc:
            code = 500
            log.exception("local request failed", method=method, path=path)
            status = ServerError(500, f"Internal error occurred: {exc}").status()
            raise ApiError(500, status, method, path) from exc
        finally:
            self._log(method, path, verb, code, route, params, content_type if body else "")

    def _call(
        self,
        method: str,
        route: Route,
        body: Any,
        params: dict[str, str] | None,
        content_type: str,
    ) -> tuple[int, Any]:
        rt, version, ns, name, sub = route.rt, route.version, route.namespace, route.name, route.sub
        core = self.core
        if not name:
            if method == "GET":
                return 200, self._list(route, params or {})
            if method == "POST":
                if isinstance(body, dict) and rt.namespaced and not ns:
                    ns = (body.get("metadata") or {}).get("namespace") or ""
                    if not ns:
                        raise _not_found()
                body = self._drop_unknown(rt, version, body)
                obj = core.create(rt, version, ns, body, manager=self.manager)
                return 201, self._hand_out(core.out(rt, obj, version))
            raise ServerError(
                405,
                f"the server does not allow this method on the requested resource ({method})",
                reason="MethodNotAllowed",
            )
        if rt.namespaced and not ns:
            raise _not_found()
        if sub == "binding" and method == "POST":
            return 201, self._bind(route, body)
        if sub == "token" and method == "POST":
            return 201, self.server.access.token_request(ns, name, body)
        if sub in ("log", "scale", "eviction"):
            raise ServerError(
                405,
                f"{sub} is not served in process; use the HTTP ApiClient for it",
                reason="MethodNotAllowed",
            )
        if method == "GET":
            return 200, self._hand_out(core.out(rt, core.get(rt, ns, name), version))
        if method == "PUT":
            body = self._drop_unknown(rt, version, body)
            obj = core.update(
                rt,
                version,
                ns,
                name,
                body,
                subresource="status" if sub == "status" else None,
                manager=self.manager,
            )
            return 200, self._hand_out(core.out(rt, obj, version))
        if method == "PATCH":
            raw = body if isinstance(body, bytes) else fastjson.dumps(body)
            obj, created = core.patch(
                rt,
                version,
                ns,
                name,
                raw,
                content_type.split(";")[0].strip(),
                subresource=sub or None,
                manager=self.manager,
            )
            return (201 if created else 200), self._hand_out(core.out(rt, obj, version))
        if method == "DELETE":
            return self._delete(route, body)
        raise ServerError(
            405,
            f"the server does not allow this method on the requested resource ({method})",
            reason="MethodNotAllowed",
        )

    def _drop_unknown(self, rt: ResourceType, version: str, body: Any) -> Any:
        """Unknown fields: dropped for built-in kinds (Warn), or a 400 (Strict)."""
        if self.field_validation == "Ignore" or not isinstance(body, dict):
            return body
        node = self.core.schema_node(rt, version)
        if not node.schema:
            return body
        unknown = unknown_fields(body, node)
        if not unknown:
            return body
        if self.field_validation == "Strict":
            raise server_errors.bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown)
            )
        log.warning("unknown fields dropped", resource=rt.plural, fields=unknown)
        if rt.is_crd:
            return body
        body = _clone(body)  # the caller's object stays as it was
        remove_fields(body, unknown)
        return body

    def _list(self, route: Route, params: dict[str, str]) -> Obj:
        unsupported = set(params) - {"labelSelector", "fieldSelector"}
        if unsupported:
            raise server_errors.bad_request(
                f"in-process lists support labelSelector and fieldSelector only, not "
                f"{sorted(unsupported)}"
            )
        rt, version = route.rt, route.version
        label_reqs = parse_label_selector(params.get("labelSelector"))
        field_reqs = parse_field_selector(params.get("fieldSelector"), rt.plural, rt.group)
        items = [
            self.core.out(rt, o, version)
            for o in self.store.iter(rt.key, route.namespace or None)
            if labels_match(label_reqs, o["metadata"].get("labels")) and fields_match(field_reqs, o)
        ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        items = [self._hand_out(item) for item in items]
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version(version),
            "metadata": {"resourceVersion": str(self.store.rv)},
            "items": items,
        }

    def _delete(self, route: Route, body: Any) -> tuple[int, Obj]:
        rt, version, ns, name = route.rt, route.version, route.namespace, route.name
        opts = DeleteOptions.from_body(body)
        opts.check()
        obj = self.core.delete(rt, ns, name, opts)
        status, answer = self.core.delete_answer(rt, version, ns, name, obj)
        return status, (self._hand_out(answer) if answer.get("kind") != "Status" else answer)

    def _bind(self, route: Route, body: Any) -> Obj:
        """pods/binding, as the API server's binding subresource does it."""
        pod = self.core.get(route.rt, route.namespace, route.name)
        target = ((body or {}).get("target") or {}).get("name")
        if not target:
            raise server_errors.bad_request("binding target name is required")
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            raise ServerError(
                409, f'pod {route.name} is already assigned to node "{node}"', reason="Conflict"
            )
        status = pod.get("status") or {}
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": _micro_now()[:19] + "Z",
            }
        )
        # New dicts along the changed paths only; the rest is shared with the stored Pod,
        # which nothing writes into (the store keeps objects immutable).
        new = {
            **pod,
            "metadata": {**pod["metadata"], "resourceVersion": str(self.store.next_rv())},
            "spec": {**(pod.get("spec") or {}), "nodeName": target},
            "status": {**status, "conditions": conditions},
        }
        self.store.put(route.rt.key, new, "MODIFIED")
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    # ------------------------------------------------------------ watch
    async def watch(
        self,
        path: str,
        resource_version: str,
        timeout_seconds: int = 300,
        extra: dict[str, str] | None = None,
    ) -> AsyncGenerator[Obj, None]:
        """Watch events as dicts ``{"type", "object"}``, straight from the store's feed.

        Like the HTTP watch: events after ``resource_version`` (all objects as ADDED for
        "" or "0"), an ERROR event (410) when that version is no longer in the history,
        BOOKMARKs while idle and at the end, and the end after ``timeout_seconds``.
        """
        params = {**(extra or {}), "watch": "true", "resourceVersion": resource_version}
        try:
            if self._stopping():
                raise ServerError(
                    503, "the API server is shutting down", reason="ServiceUnavailable"
                )
            route = self._route(path)
            unsupported = set(extra or {}) - {"labelSelector", "fieldSelector"}
            if unsupported:
                raise server_errors.bad_request(
                    f"in-process watches support labelSelector and fieldSelector only, not "
                    f"{sorted(unsupported)}"
                )
            rt = route.rt
            label_reqs = parse_label_selector((extra or {}).get("labelSelector"))
            field_reqs = parse_field_selector(
                (extra or {}).get("fieldSelector"), rt.plural, rt.group
            )
        except ServerError as exc:
            self._log("GET", path, "watch", exc.code, None, params)
            raise ApiError(exc.code, exc.status(), "WATCH", path) from None
        self._log("GET", path, "watch", 200, route, params)
        ns = route.namespace or None
        version = route.version
        out = self.core.out
        bookmark_kind = {"kind": rt.kind, "apiVersion": rt.api_version(version)}

        def matches(obj: Obj | None) -> bool:
            if obj is None:
                return False
            meta = obj["metadata"]
            if ns is not None and meta.get("namespace", "") != ns:
                return False
            if not label_reqs and not field_reqs:
                return True
            return labels_match(label_reqs, meta.get("labels")) and fields_match(field_reqs, obj)

        def translate(event: WatchEvent) -> Obj | None:
            etype: str | None
            if event.type == "ADDED":
                etype = "ADDED" if matches(event.obj) else None
            elif event.type == "DELETED":
                etype = "DELETED" if matches(event.old) else None
            else:
                new_ok, old_ok = matches(event.obj), matches(event.old)
                if new_ok and old_ok:
                    etype = "MODIFIED"
                elif new_ok:
                    etype = "ADDED"
                elif old_ok:
                    etype = "DELETED"
                else:
                    etype = None
            if etype is None:
                return None
            return {"type": etype, "object": self._hand_out(out(rt, event.obj, version))}

        def bookmark() -> Obj:
            meta = {"resourceVersion": str(self.store.rv)}
            return {"type": "BOOKMARK", "object": {**bookmark_kind, "metadata": meta}}

        # Subscribing and reading the backlog happen without an await in between, so no
        # event can fall between them (the store emits synchronously).
        watcher = self.store.subscribe(rt.key)
        try:
            backlog: list[Obj] = []
            if resource_version in ("", "0"):
                for obj in list(self.store.iter(rt.key, ns)):
                    if matches(obj):
                        backlog.append(
                            {"type": "ADDED", "object": self._hand_out(out(rt, obj, version))}
                        )
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise ApiError(
                        400,
                        server_errors.bad_request(
                            f"invalid resourceVersion {resource_version!r}"
                        ).status(),
                        "WATCH",
                        path,
                    ) from None
                events = self.store.events_since(rt.key, since)
                if events is None:
                    status = server_errors.gone(
                        f"too old resource version: {since} ({self.store.compacted_rv})"
                    ).status()
                    yield {"type": "ERROR", "object": status}
                    return
                for ev in events:
                    item = translate(ev)
                    if item is not None:
                        backlog.append(item)
            for item in backlog:
                yield item
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_seconds
            queue = watcher.queue
            while not self._stopping():
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        yield bookmark()
                        break
                    try:
                        async with asyncio.timeout(min(remaining, BOOKMARK_SECONDS)):
                            event = await queue.get()
                    except TimeoutError:
                        if queue.empty() and loop.time() < deadline:
                            yield bookmark()  # idle: tell the client how far it is
                        continue
                else:
                    event = queue.get_nowait()
                if event is None:
                    break
                item = translate(event)
                if item is not None:
                    yield item
        finally:
            self.store.unsubscribe(watcher)


def _verb(method: str, route: Route) -> str:
    if not route.name:
        return {"GET": "list", "POST": "create", "DELETE": "deletecollection"}.get(method, "")
    if route.sub == "binding":
        return "create"
    return {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")


__all__ = ["LocalClient", "split_path"]
