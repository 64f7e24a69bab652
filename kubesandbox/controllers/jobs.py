"""Job and CronJob controllers."""

from __future__ import annotations

import copy
import json

import structlog

from kubesandbox.controllers.batch import (
    RUN_NOW,
    failed_pod_backoff,
    job_finished,
    job_from_cronjob,
    plan_cronjob,
    plan_job,
)
from kubesandbox.controllers.client import (
    CRONJOBS,
    JOBS,
    PODS,
    ApiError,
    ApiTransport,
    Informer,
    WorkQueue,
)
from kubesandbox.controllers.common import (
    Obj,
    fmt_time,
    is_terminating,
    owner_ref,
    parse_time,
    pod_phase,
    utcnow,
)
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.controllers.owners import OwnerIndex
from kubesandbox.controllers.replicaset import Expectations

log = structlog.get_logger("kubesandbox.jobs")
Key = tuple[str, str]


def job_pod(job: Obj) -> Obj:
    meta = job["metadata"]
    template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    labels = {
        **(tmeta.get("labels") or {}),
        "batch.kubernetes.io/controller-uid": meta["uid"],
        "batch.kubernetes.io/job-name": meta["name"],
        "controller-uid": meta["uid"],
        "job-name": meta["name"],
    }
    pod_meta: Obj = {
        "generateName": f"{meta['name']}-",
        "namespace": meta.get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [owner_ref(job)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = tmeta["annotations"]
    spec = template.get("spec") or {}
    spec.setdefault("restartPolicy", "Never")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _last_failure(pods: list[Obj]) -> str | None:
    stamps = []
    for pod in pods:
        if pod_phase(pod) != "Failed":
            continue
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            finished = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
            if finished:
                stamps.append(finished)
    return max(stamps) if stamps else None


class JobController:
    def __init__(
        self,
        client: ApiTransport,
        jobs: Informer,
        pods: Informer,
        recorder: EventRecorder,
        backoff_base: float,
    ) -> None:
        self.client = client
        self.jobs = jobs
        self.pods = pods
        self.recorder = recorder
        self.backoff_base = backoff_base
        self.queue = WorkQueue("job", self.reconcile, workers=2)
        self.owners = OwnerIndex()
        self.expectations = Expectations()
        jobs.add_handler(self._on_job)
        pods.add_handler(self._on_pod)

    def _on_job(self, kind: str, job: Obj, old: Obj | None) -> None:
        self.queue.add(self.owners.owner_event(kind, job))

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        uid = self.owners.child_event(kind, pod)
        if uid is None:
            return
        if kind == "ADDED":
            self.expectations.created(uid)
        key = self.owners.owner_key(uid)
        if key is not None:
            self.queue.add(key)

    async def reconcile(self, key: Key) -> float | None:
        job = self.jobs.cache.get(key)
        if job is None or is_terminating(job):
            return None
        meta = job["metadata"]
        uid = meta["uid"]
        pods = self.owners.children(uid, self.pods.cache)
        now = utcnow()
        plan = plan_job(job, pods, now)
        was_finished = job_finished(job)
        requeue = plan.requeue_after
        if plan.delete_active:
            for pod in pods:
                if pod_phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod):
                    await self.client.delete(PODS.item(key[0], pod["metadata"]["name"]))
        if plan.create and self.expectations.satisfied(uid):
            delay = 0.0
            failed = int(plan.status.get("failed", 0))
            last = parse_time(_last_failure(pods))
            if failed and last is not None:
                wait = failed_pod_backoff(failed, self.backoff_base)
                delay = wait - (now - last).total_seconds()
            if delay > 0:
                requeue = delay if requeue is None else min(requeue, delay)
            else:
                self.expectations.expect(uid, set(), plan.create)
                for _ in range(plan.create):
                    created = await self.client.create(
                        PODS.collection(meta.get("namespace")), job_pod(job)
                    )
                    await self.recorder.record(
                        job,
                        "Normal",
                        "SuccessfulCreate",
                        f"Created pod: {created['metadata']['name']}",
                    )
        old = job.get("status") or {}
        if json.dumps(plan.status, sort_keys=True) != json.dumps(
            {k: old.get(k) for k in plan.status}, sort_keys=True
        ):
            await self.client.patch(
                JOBS.item(key[0], meta["name"], "status"), {"status": plan.status}
            )
        for event in plan.events:
            await self.recorder.record(job, *event)
        finished = job_finished({"status": plan.status})
        if finished and not was_finished:
            if finished == "Complete":
                await self.recorder.record(job, "Normal", "Completed", "Job completed")
            else:
                reason = next(
                    (c.get("reason") for c in plan.status["conditions"] if c["type"] == "Failed"),
                    "Failed",
                )
                message = next(
                    (c.get("message") for c in plan.status["conditions"] if c["type"] == "Failed"),
                    "",
                )
                await self.recorder.record(job, "Warning", str(reason), str(message))
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if finished and ttl is not None:
            done_at = parse_time(
                plan.status.get("completionTime")
                or next(
                    (
                        c.get("lastTransitionTime")
                        for c in plan.status["conditions"]
                        if c["type"] == finished
                    ),
                    None,
                )
            )
            remaining = int(ttl) - ((now - done_at).total_seconds() if done_at else 0)
            if remaining <= 0:
                await self.client.delete(JOBS.item(key[0], meta["name"]), propagation="Background")
                return None
            requeue = remaining if requeue is None else min(requeue, remaining)
        return requeue


class CronJobController:
    def __init__(
        self, client: ApiTransport, cronjobs: Informer, jobs: Informer, recorder: EventRecorder
    ) -> None:
        self.client = client
        self.cronjobs = cronjobs
        self.jobs = jobs
        self.recorder = recorder
        self.queue = WorkQueue("cronjob", self.reconcile, workers=2)
        self.owners = OwnerIndex()
        cronjobs.add_handler(self._on_cronjob)
        jobs.add_handler(self._on_job)

    def _on_cronjob(self, kind: str, cj: Obj, old: Obj | None) -> None:
        self.queue.add(self.owners.owner_event(kind, cj))

    def _on_job(self, kind: str, job: Obj, old: Obj | None) -> None:
        uid = self.owners.child_event(kind, job)
        if uid is None:
            return
        key = self.owners.owner_key(uid)
        if key is not None:
            self.queue.add(key)

    async def _track_active(self, cj: Obj, jobs: list[Obj]) -> set[str]:
        """The uids of `status.active` that are still running, as kube-controller-manager
        keeps it: Jobs it did not start (`kubectl create job --from=cronjob/...`) are
        reported, not adopted; finished or vanished ones leave the list."""
        listed = {
            ref.get("uid", ""): ref.get("name", "")
            for ref in (cj.get("status") or {}).get("active") or []
        }
        children = {j["metadata"].get("uid", ""): j for j in jobs}
        tracked: set[str] = set()
        for job_uid, job in children.items():
            name = job["metadata"]["name"]
            finished = job_finished(job)
            if job_uid in listed and finished:
                await self.recorder.record(
                    cj,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {name}, condition: {finished}",
                )
            elif job_uid in listed:
                tracked.add(job_uid)
            elif not finished:
                await self.recorder.record(
                    cj, "Warning", "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {name}",
                )  # fmt: skip
        for job_uid, name in listed.items():
            if job_uid not in children:
                await self.recorder.record(
                    cj, "Normal", "MissingJob", f"Active job went missing: {name}"
                )
        return tracked

    async def reconcile(self, key: Key) -> float | None:
        cj = self.cronjobs.cache.get(key)
        if cj is None or is_terminating(cj):
            return None
        meta = cj["metadata"]
        uid = meta["uid"]
        namespace = meta.get("namespace", "default")
        jobs = self.owners.children(uid, self.jobs.cache)
        now = utcnow()
        status = dict(cj.get("status") or {})
        tracked = await self._track_active(cj, jobs)
        plan = plan_cronjob(cj, jobs, now, tracked)
        for name in plan.delete_finished:
            await self.client.delete(JOBS.item(namespace, name), propagation="Background")
            await self.recorder.record(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        jobs = [j for j in jobs if j["metadata"]["name"] not in plan.delete_finished]
        if plan.skip_reason == "InvalidSchedule":
            await self.recorder.record(
                cj,
                "Warning",
                "InvalidSchedule",
                f"invalid schedule: {(cj.get('spec') or {}).get('schedule')!r}",
            )
        for name in plan.delete_active:
            await self.client.delete(JOBS.item(namespace, name), propagation="Background")
            await self.recorder.record(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        run_now = (meta.get("annotations") or {}).get(RUN_NOW)
        if plan.create_for is not None:
            body = job_from_cronjob(cj, plan.create_for, owner_ref(cj))
            if run_now:
                body["metadata"]["name"] = f"{meta['name']}-manual-{int(now.timestamp())}"
                body["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] = "manual"
            try:
                created = await self.client.create(JOBS.collection(namespace), body)
                jobs.append(created)
                tracked.add(created["metadata"]["uid"])
                await self.recorder.record(
                    cj, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}"
                )
            except ApiError as exc:
                if exc.status != 409:
                    raise
            if not run_now:
                status["lastScheduleTime"] = fmt_time(plan.create_for)
        elif plan.skip_reason == "JobAlreadyActive":
            await self.recorder.record(
                cj,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy "
                "is Forbid",
            )
        if run_now:
            await self.client.patch(
                CRONJOBS.item(namespace, meta["name"]),
                {"metadata": {"annotations": {RUN_NOW: None}}},
            )
        active = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": j["metadata"]["name"],
                "namespace": namespace,
                "uid": j["metadata"].get("uid", ""),
                "resourceVersion": j["metadata"].get("resourceVersion", ""),
            }
            for j in jobs
            if j["metadata"].get("uid") in tracked
            and not job_finished(j)
            and j["metadata"]["name"] not in plan.delete_active
        ]
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        successes = [
            str((j.get("status") or {}).get("completionTime") or "")
            for j in jobs
            if job_finished(j) == "Complete"
        ]
        successes = [s for s in successes if s]
        if successes:
            previous = str(status.get("lastSuccessfulTime") or "")
            status["lastSuccessfulTime"] = max([*successes, previous])
        old = cj.get("status") or {}
        if json.dumps(status, sort_keys=True) != json.dumps(old, sort_keys=True):
            patch = dict(status)
            if "active" not in status and "active" in old:
                patch["active"] = None
            await self.client.patch(
                CRONJOBS.item(namespace, meta["name"], "status"), {"status": patch}
            )
        if plan.next_run is not None:
            return max(0.05, (plan.next_run - utcnow()).total_seconds() + 0.01)
        return None
