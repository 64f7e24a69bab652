"""The PersistentVolume controller: provisions a PersistentVolume (a directory under
``{state_dir}/pvc``) for each claim of a StorageClass whose provisioner is the sandbox's,
binds them, grows them when the claim asks for more, reclaims them with the claim, and
lifts the `kubernetes.io/pvc-protection` finalizer once no running Pod uses the claim."""

from __future__ import annotations

import asyncio
import shutil

import structlog

from kubesandbox.apiserver.storage import PROVISIONER, PVC_PROTECTION, quantity
from kubesandbox.config import SandboxConfig
from kubesandbox.controllers.client import (
    PVCS,
    ApiError,
    ApiTransport,
    Informer,
    Resource,
    WorkQueue,
)
from kubesandbox.controllers.common import Obj, is_terminating, pod_phase
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.kubelet.volumes import HOST_PATH_ANNOTATION, pvc_path

log = structlog.get_logger("kubesandbox.storage")
Key = tuple[str, str]
PVS = Resource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False)
CLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)


def claims_of(pod: Obj) -> list[str]:
    return [
        str(v["persistentVolumeClaim"].get("claimName", ""))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if isinstance(v.get("persistentVolumeClaim"), dict)
    ]


class PersistentVolumeController:
    def __init__(
        self,
        client: ApiTransport,
        pvcs: Informer,
        pods: Informer,
        config: SandboxConfig,
        recorder: EventRecorder,
    ) -> None:
        self.client = client
        self.pvcs = pvcs
        self.pods = pods
        self.config = config
        self.recorder = recorder
        self.queue = WorkQueue("pvc", self.reconcile, workers=2)
        self._gone: dict[Key, Obj] = {}
        pvcs.add_handler(self._on_pvc)
        pods.add_handler(self._on_pod)

    def _on_pvc(self, kind: str, pvc: Obj, old: Obj | None) -> None:
        meta = pvc["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            self._gone[key] = pvc
        self.queue.add(key)

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        # A Pod that ends or goes no longer holds its claims (pvc-protection)
        if kind == "DELETED" or pod_phase(pod) in ("Succeeded", "Failed"):
            ns = pod["metadata"].get("namespace", "")
            for claim in claims_of(pod):
                self.queue.add((ns, claim))

    def _in_use(self, ns: str, claim: str) -> bool:
        return any(
            claim in claims_of(p) and pod_phase(p) not in ("Succeeded", "Failed")
            for p in self.pods.items(ns)
        )

    async def reconcile(self, key: Key) -> float | None:
        gone = self._gone.pop(key, None)
        pvc = self.pvcs.cache.get(key)
        if pvc is None:
            if gone is not None:
                await self._reclaim(gone)
            return None
        meta = pvc["metadata"]
        if is_terminating(pvc):
            finalizers = meta.get("finalizers") or []
            if PVC_PROTECTION in finalizers and not self._in_use(*key):
                rest = [f for f in finalizers if f != PVC_PROTECTION]
                await self.client.patch(
                    PVCS.item(*key),
                    {
                        "metadata": {
                            "finalizers": rest or None,
                            "resourceVersion": meta["resourceVersion"],
                        }
                    },
                )
            return None
        status = pvc.get("status") or {}
        if status.get("phase") == "Bound":
            await self._resize(pvc)
            return None
        await self._provision(pvc)
        return None

    async def _provision(self, pvc: Obj) -> None:
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        namespace, name = meta.get("namespace", "default"), meta["name"]
        class_name = spec.get("storageClassName") or ""
        sc = await self.client.get(CLASSES.item(None, class_name)) if class_name else None
        if sc is None:
            reason, message = (
                ("ProvisioningFailed", f'storageclass.storage.k8s.io "{class_name}" not found')
                if class_name
                else (
                    "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set",
                )
            )
            await self.recorder.record(pvc, "Warning", reason, message)
            return
        if sc.get("provisioner") != PROVISIONER:
            await self.recorder.record(
                pvc,
                "Normal",
                "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner "
                f"'{sc.get('provisioner')}' or manually by the system administrator. If volume "
                "creation is delayed, please verify that the provisioner is running and "
                "correctly registered.",
            )
            return
        path = pvc_path(self.config.pvc_dir, pvc)
        path.mkdir(parents=True, exist_ok=True)  # a local mkdir: cheaper than a thread hop
        volume = f"pvc-{meta['uid']}"
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": volume,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            },
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": modes,
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": class_name,
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": str(path), "type": ""},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": namespace,
                    "name": name,
                    "uid": meta["uid"],
                },
            },
        }
        try:
            await self.client.create(PVS.collection(), pv)
        except ApiError as exc:
            if exc.status != 409:
                raise
        await self.client.patch(PVS.item(None, volume, "status"), {"status": {"phase": "Bound"}})
        annotations = {
            HOST_PATH_ANNOTATION: str(path),
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": PROVISIONER,
        }
        try:
            await self.client.patch(
                PVCS.item(namespace, name),
                {"metadata": {"annotations": annotations}, "spec": {"volumeName": volume}},
            )
        except ApiError as exc:
            if exc.status != 422:
                raise
            await self.client.patch(
                PVCS.item(namespace, name), {"metadata": {"annotations": annotations}}
            )
        await self.client.patch(
            PVCS.item(namespace, name, "status"),
            {"status": {"phase": "Bound", "accessModes": modes, "capacity": {"storage": storage}}},
        )
        await self.recorder.record(
            pvc,
            "Normal",
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume} at {path}",
        )

    async def _resize(self, pvc: Obj) -> None:
        """The claim asks for more than it has: the volume grows (a directory has no size)."""
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        wanted = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        has = ((pvc.get("status") or {}).get("capacity") or {}).get("storage")
        if wanted is None or quantity(wanted) <= quantity(has):
            return
        volume = spec.get("volumeName")
        if volume:
            await self.client.patch(
                PVS.item(None, volume), {"spec": {"capacity": {"storage": wanted}}}
            )
        await self.client.patch(
            PVCS.item(meta.get("namespace", ""), meta["name"], "status"),
            {"status": {"capacity": {"storage": wanted}}},
        )
        await self.recorder.record(
            pvc, "Normal", "VolumeResizeSuccessful", f"ExpandVolume succeeded for volume {volume}"
        )

    async def _reclaim(self, pvc: Obj) -> None:
        """reclaimPolicy Delete: the volume and its data go with the claim; Retain: kept,
        Released."""
        volume = str((pvc.get("spec") or {}).get("volumeName") or "")
        pv = await self.client.get(PVS.item(None, volume)) if volume else None
        if (
            pv is not None
            and (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Retain"
        ):
            await self.client.patch(
                PVS.item(None, volume, "status"), {"status": {"phase": "Released"}}
            )
            return
        if pv is not None:
            try:
                await self.client.delete(PVS.item(None, volume))
            except ApiError as exc:
                if exc.status != 404:
                    raise
        path = pvc_path(self.config.pvc_dir, pvc)
        if self.config.pvc_dir in path.parents:
            await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, path, True)
