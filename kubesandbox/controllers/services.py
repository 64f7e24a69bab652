"""Endpoints and EndpointSlice controllers (one slice per Service)."""

from __future__ import annotations

import structlog

from kubesandbox.controllers.client import (
    ENDPOINTS,
    ENDPOINTSLICES,
    ApiError,
    ApiTransport,
    Informer,
    WorkQueue,
)
from kubesandbox.controllers.common import Obj, is_terminating, owner_ref
from kubesandbox.controllers.endpoints_logic import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    endpoint_slice_body,
    endpoints_subsets,
    service_selects,
)

log = structlog.get_logger("kubesandbox.services")
Key = tuple[str, str]


class EndpointsController:
    def __init__(
        self,
        client: ApiTransport,
        services: Informer,
        pods: Informer,
        endpoints: Informer,
        slices: Informer,
    ) -> None:
        self.client = client
        self.services = services
        self.pods = pods
        self.endpoints = endpoints
        self.slices = slices
        self.queue = WorkQueue("endpoints", self.reconcile, workers=16)
        self._index: dict[tuple[str, str, str], set[str]] = {}
        self._index_key: dict[Key, tuple[str, str, str]] = {}
        self._pods_by_label: dict[tuple[str, str, str], set[str]] = {}
        # (namespace, Service name) -> names of the EndpointSlices labelled for it.
        self._slice_index: dict[tuple[str, str], set[str]] = {}
        services.add_handler(self._on_service)
        pods.add_handler(self._on_pod)
        slices.add_handler(self._on_slice)

    def _on_slice(self, kind: str, sl: Obj, old: Obj | None) -> None:
        meta = sl["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        for obj, present in ((old, False), (sl, kind != "DELETED")):
            if obj is None:
                continue
            service = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
            if service is None:
                continue
            bucket = self._slice_index.setdefault((namespace, service), set())
            if present:
                bucket.add(name)
            else:
                bucket.discard(name)
                if not bucket:
                    del self._slice_index[(namespace, service)]

    def _on_service(self, kind: str, svc: Obj, old: Obj | None) -> None:
        meta = svc["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        previous = self._index_key.pop(key, None)
        if previous is not None:
            self._index.get(previous, set()).discard(key[1])
        selector = (svc.get("spec") or {}).get("selector") or {}
        if kind != "DELETED" and selector:
            # Index each Service under one of its selector's labels: a pod event then only
            # looks at Services that can possibly select it.
            label, value = sorted(selector.items())[0]
            index_key = (key[0], label, str(value))
            self._index.setdefault(index_key, set()).add(key[1])
            self._index_key[key] = index_key
        self.queue.add(key)

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        namespace = pod["metadata"].get("namespace", "")
        name = pod["metadata"]["name"]
        if old is not None:
            for label, value in ((old.get("metadata") or {}).get("labels") or {}).items():
                self._pods_by_label.get((namespace, label, str(value)), set()).discard(name)
        if kind != "DELETED":
            for label, value in (pod["metadata"].get("labels") or {}).items():
                self._pods_by_label.setdefault((namespace, label, str(value)), set()).add(name)
        if kind == "MODIFIED" and old is not None and not self._relevant_change(pod, old):
            return
        names: set[str] = set()
        for obj in (pod, old):
            if obj is None:
                continue
            for label, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
                names |= self._index.get((namespace, label, str(value)), set())
        for name in names:
            svc = self.services.get(namespace, name)
            if svc is None:
                continue
            if service_selects(svc, pod) or (old is not None and service_selects(svc, old)):
                self.queue.add((namespace, name))

    def _candidate_pods(self, namespace: str, svc: Obj) -> list[Obj]:
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        label, value = sorted(selector.items())[0]
        names = self._pods_by_label.get((namespace, label, str(value)), set())
        return [p for n in list(names) if (p := self.pods.get(namespace, n)) is not None]

    @staticmethod
    def _relevant_change(pod: Obj, old: Obj) -> bool:
        def view(p: Obj) -> tuple[object, ...]:
            status = p.get("status") or {}
            ready = [
                c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"
            ]
            return (
                p["metadata"].get("labels"),
                p["metadata"].get("deletionTimestamp") is not None,
                status.get("podIP"),
                status.get("phase"),
                ready,
            )

        return view(pod) != view(old)

    async def reconcile(self, key: Key) -> float | None:
        namespace, name = key
        svc = self.services.get(namespace, name)
        if svc is None or is_terminating(svc):
            if self.endpoints.get(namespace, name) is not None:
                await self.client.delete(ENDPOINTS.item(namespace, name))
            for sl in self._slices(namespace, name):
                await self.client.delete(ENDPOINTSLICES.item(namespace, sl["metadata"]["name"]))
            return None
        if not (svc.get("spec") or {}).get("selector"):
            return None  # endpoints of selector-less Services are managed by their users
        pods = [p for p in self._candidate_pods(namespace, svc) if service_selects(svc, p)]
        await self._sync_endpoints(svc, pods)
        await self._sync_slice(svc, pods)
        return None

    def _slices(self, namespace: str, name: str) -> list[Obj]:
        candidates = (
            self.slices.get(namespace, slice_name)
            for slice_name in sorted(self._slice_index.get((namespace, name), ()))
        )
        return [
            s
            for s in candidates
            if s is not None
            and ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and ((s.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]

    async def _sync_endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        subsets = endpoints_subsets(svc, pods)
        labels = {
            **(meta.get("labels") or {}),
            "endpoints.kubernetes.io/managed-by": ("endpoint-controller"),
        }
        existing = self.endpoints.get(namespace, name)
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
        }
        if subsets:
            body["subsets"] = subsets
        if existing is None:
            try:
                await self.client.create(ENDPOINTS.collection(namespace), body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                existing = await self.client.get(ENDPOINTS.item(namespace, name))
            else:
                return
        if existing is None:
            return
        if (existing.get("subsets") or []) == subsets and (
            existing["metadata"].get("labels") or {}
        ) == labels:
            return
        body["metadata"]["resourceVersion"] = existing["metadata"].get("resourceVersion")
        await self.client.replace(ENDPOINTS.item(namespace, name), body)

    async def _sync_slice(self, svc: Obj, pods: list[Obj]) -> None:
        meta = svc["metadata"]
        namespace, name = meta.get("namespace", "default"), meta["name"]
        endpoints, ports = endpoint_slice_body(svc, pods)
        labels = {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}
        current = self._slices(namespace, name)
        if not current:
            body = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "generateName": f"{name}-",
                    "namespace": namespace,
                    "labels": labels,
                    "ownerReferences": [{**owner_ref(svc), "apiVersion": "v1", "kind": "Service"}],
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": ports,
            }
            await self.client.create(ENDPOINTSLICES.collection(namespace), body)
            return
        first, *extra = current
        for sl in extra:
            await self.client.delete(ENDPOINTSLICES.item(namespace, sl["metadata"]["name"]))
        if (first.get("endpoints") or []) == endpoints and (first.get("ports") or []) == ports:
            return
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {**first["metadata"]},
            "addressType": first.get("addressType", "IPv4"),
            "endpoints": endpoints,
            "ports": ports,
        }
        await self.client.replace(ENDPOINTSLICES.item(namespace, first["metadata"]["name"]), body)
