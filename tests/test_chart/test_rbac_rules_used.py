"""No rule of the chart's operator RBAC is unused: each one removed in turn, the operator
runs the same scenario with its ServiceAccount token (kubesandbox enforces RBAC) and gets a
403 Forbidden, in the namespaced and in the cluster-wide mode.

The rules are read from the rendered chart (every Role and ClusterRole bound to the
operator's ServiceAccount), so rules added later are tested without touching this file. A
rule the scenario never needs fails the test by name: extend the scenario (a rule that is
only for a feature is exercised by enabling the feature in the scenario's room) or drop the
rule. A baseline run with every rule goes through the whole scenario without any 403, which
makes each variant's 403 the removed rule's doing.

Each variant is an operator process of its own with a ServiceAccount of its own. In the
namespaced mode each watches a namespace of its own, so they all run at once in the shared
sandbox. In the cluster-wide mode every operator sees every room, so there they run at once only
until one shared room is Ready (their start-up list and watch calls, and their reads of
that room); the variants still without a 403 for their rule then run the scenario one at
a time, as does the baseline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .chart import render
from .helpers import Operator, install_crds

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

SYSTEM = "rules-system"  # the namespace of every variant's ServiceAccount
ROOM = "proof"
YEARLY = "0 0 1 1 *"  # no scheduled backup during the test; the scenario starts one itself
# A room with the features whose rules would otherwise go unused: backups (the backup
# CronJob, the Job's result read from its Pod's log and recorded on it, the final backup
# on delete with its finalizer) and an Ingress.
ROOM_SPEC: dict[str, Any] = {
    "backup": {"enabled": True, "schedule": YEARLY, "retention": {"count": 2}},
    "expose": {"ingress": {"host": "proof.example.test"}},
}
STEP_TIMEOUT = 90.0
# Operators starting at once: more only fight over the two cores (each start takes about a
# CPU second) and can push one past its health check's 60 s on a busy machine.
PARALLEL = 4
# Cluster-wide: how long the variants that run side by side may take to meet a 403, at
# most (they stop earlier once the shared room is Ready). Only the speed depends on it: a
# variant without a 403 by then runs the whole scenario alone afterwards.
SIDE_BY_SIDE_SECONDS = 60.0


@dataclass(frozen=True)
class RoleSource:
    """A Role or ClusterRole of the rendered chart that is bound to the operator."""

    kind: str
    suffix: str  # the name after the release's prefix, e.g. "" or "-observer"
    rules: tuple[str, ...]  # each rule as canonical JSON


@dataclass(frozen=True)
class Removal:
    role: RoleSource
    index: int

    @property
    def rule(self) -> dict[str, Any]:
        return dict(json.loads(self.role.rules[self.index]))

    def describe(self) -> str:
        rule = self.rule
        groups = ",".join(g or "core" for g in rule["apiGroups"])
        names = f" (resourceNames {rule['resourceNames']})" if rule.get("resourceNames") else ""
        return (
            f"{self.role.kind} gameroom-operator{self.role.suffix} rule {self.index + 1}: "
            f"{','.join(rule['verbs'])} on {','.join(rule['resources'])} [{groups}]{names}"
        )


def operator_roles(values: dict[str, Any]) -> list[RoleSource]:
    """The roles the chart binds to the operator's ServiceAccount (not the helm test's)."""
    release = "rules"
    objects = render(values, namespace=SYSTEM, release=release)
    account = f"{release}-gameroom-operator"
    bound = {
        (o["roleRef"]["kind"], o["roleRef"]["name"])
        for o in objects
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and any(s.get("name") == account for s in o.get("subjects") or [])
    }
    found: dict[tuple[str, str], RoleSource] = {}
    for o in objects:
        key = (o["kind"], o["metadata"]["name"])
        if key in bound and key not in found:
            rules = tuple(json.dumps(r, sort_keys=True) for r in o["rules"])
            found[key] = RoleSource(o["kind"], o["metadata"]["name"].removeprefix(account), rules)
    return list(found.values())


@dataclass
class Variant:
    name: str
    removal: Removal | None  # None: the baseline, every rule
    room_namespace: str
    log_path: Path
    refusals: list[str] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)


def rbac_objects(
    variant: Variant, roles: list[RoleSource], cluster_wide: bool
) -> list[dict[str, Any]]:
    """The variant's ServiceAccount and roles: the chart's, less the removed rule."""
    account = {"kind": "ServiceAccount", "name": variant.name, "namespace": SYSTEM}
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": variant.name, "namespace": SYSTEM},
        }
    ]
    for number, role in enumerate(roles):
        rules = [
            json.loads(rule)
            for index, rule in enumerate(role.rules)
            if variant.removal is None
            or (variant.removal.role, variant.removal.index) != (role, index)
        ]
        name = f"{variant.name}-{number}"
        metadata: dict[str, Any] = {"name": name}
        if role.kind == "Role":
            metadata["namespace"] = variant.room_namespace
        binding_kind = "RoleBinding" if role.kind == "Role" else "ClusterRoleBinding"
        rbac = "rbac.authorization.k8s.io/v1"
        objects.append(
            {"apiVersion": rbac, "kind": role.kind, "metadata": metadata, "rules": rules}
        )
        objects.append(
            {
                "apiVersion": rbac,
                "kind": binding_kind,
                "metadata": dict(metadata),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": role.kind,
                    "name": name,
                },
                "subjects": [account],
            }
        )
    assert cluster_wide or any(r.kind == "Role" for r in roles)
    return objects


def token_kubeconfig(sandbox: Any, account: str, path: Path) -> Path:
    """A kubeconfig with nothing but the ServiceAccount's token."""
    # A TokenRequest, as `kubectl create token` makes, without a kubectl process.
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    answer = client.CoreV1Api(sandbox.api_client()).create_namespaced_service_account_token(
        account, SYSTEM, request
    )
    token = answer.status.token
    cluster = yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account}}],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def start_operator(sandbox: Any, scope: str, log_path: Path, kubeconfig: Path) -> Operator:
    """An operator whose metrics port is its own: the port is picked free before the
    operator binds it, and among dozens of processes starting at once another one may take
    it first, and answer the health check in its place."""
    for _ in range(3):
        operator = Operator(sandbox, scope, log_path, kubeconfig, ("--operator-namespace", SYSTEM))
        try:
            connections = psutil.Process(operator.process.pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            connections = []
        listening = {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
        if operator.port in listening:
            return operator
        operator.stop()
    raise AssertionError(f"no metrics port of its own for the operator of {log_path.name}")


_FORBIDDEN = re.compile(r"\bforbidden\b|\bForbidden\b")


def refusals(operator: Operator) -> list[str]:
    """The 403s the operator met: its API error counter and Kopf's log lines."""
    try:
        metrics = operator.metrics()
    except OSError as error:
        tail = operator.log_path.read_text(errors="replace")[-2000:]
        raise AssertionError(
            f"the operator of {operator.log_path.name} is gone: {error}\n{tail}"
        ) from None
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("gameroom_operator_api_errors_total")
        and 'code="403"' in line
        and not line.rstrip().endswith(" 0.0")
    ]
    logged = [
        line
        for line in operator.log_path.read_text(errors="replace").splitlines()
        if _FORBIDDEN.search(line)
    ]
    return counted + logged


def until(operator: Operator, done: Callable[[], bool], timeout: float) -> bool:
    """Poll until the operator meets a 403 or `done()`; True when it met a 403."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if refusals(operator):
            return True
        if done():
            break
        time.sleep(0.2)
    return bool(refusals(operator))


class Scenario:
    """What the operator is for, one step at a time, stopping at the first 403 unless told
    to go on (the baseline must meet none)."""

    def __init__(self, sandbox: Any, variant: Variant) -> None:
        self.sandbox = sandbox
        self.variant = variant
        self.ns = variant.room_namespace
        # Polled through one client: a kubectl process per poll costs a tenth of a CPU
        # second, which the operators under test need more.
        api = sandbox.api_client()
        self.rooms = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)

    def kubectl(self, *args: str, **kwargs: Any) -> Any:
        return self.sandbox.kubectl("-n", self.ns, *args, **kwargs)

    def room(self) -> dict[str, Any] | None:
        try:
            found = self.rooms.get_namespaced_custom_object(
                "drawgame.dev", "v1alpha1", self.ns, "gamerooms", ROOM
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(found)

    def ready(self) -> bool:
        room = self.room() or {}
        conditions = (room.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def cronjob(self) -> bool:
        try:
            self.batch.read_namespaced_cron_job(f"{ROOM}-backup", self.ns)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def backed_up(self) -> bool:
        status = (self.room() or {}).get("status") or {}
        last = (status.get("backup") or {}).get("lastSuccessful") or {}
        return bool(last.get("job") == "proof-now")

    def gone(self) -> bool:
        return self.room() is None

    def apply_room(self) -> None:
        manifest = {
            "apiVersion": "drawgame.dev/v1alpha1",
            "kind": "GameRoom",
            "metadata": {"name": ROOM},
            "spec": ROOM_SPEC,
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def run(self, operator: Operator) -> None:
        steps: list[tuple[str, Callable[[], None] | None, Callable[[], bool]]] = [
            ("room created", self.apply_room, self.ready),
            ("backup CronJob", None, self.cronjob),
            (
                "backup recorded",
                lambda: self.kubectl("create", "job", f"--from=cronjob/{ROOM}-backup", "proof-now"),
                self.backed_up,
            ),
            (
                "room deleted",
                lambda: self.kubectl("delete", "gameroom", ROOM, "--wait=false"),
                self.gone,
            ),
        ]
        baseline = self.variant.removal is None
        for name, action, done in steps:
            if action is not None:
                action()
            refused = until(operator, done, STEP_TIMEOUT)
            if done():
                self.variant.reached.append(name)
            if refused and not baseline:
                break
        self.variant.refusals = refusals(operator)


def run_variant(sandbox: Any, variant: Variant, cluster_wide: bool, tmp: Path) -> Variant:
    kubeconfig = token_kubeconfig(sandbox, variant.name, tmp / f"{variant.name}.kubeconfig")
    scope = "" if cluster_wide else variant.room_namespace
    operator = start_operator(sandbox, scope, variant.log_path, kubeconfig)
    try:
        Scenario(sandbox, variant).run(operator)
    finally:
        operator.stop()
    return variant


def prepare(
    sandbox: Any, values: dict[str, Any], prefix: str, cluster_wide: bool, tmp: Path
) -> list[Variant]:
    install_crds(sandbox)
    roles = operator_roles(values)
    removals: list[Removal | None] = [None]
    removals += [Removal(role, index) for role in roles for index in range(len(role.rules))]
    variants = [
        Variant(
            name=f"{prefix}-{number:02d}",
            removal=removal,
            room_namespace=f"{prefix}-{number:02d}-games",
            log_path=tmp / f"{prefix}-{number:02d}.log",
        )
        for number, removal in enumerate(removals)
    ]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM}}
    ]
    for variant in variants:
        objects.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": variant.room_namespace}}
        )
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    rbac = [o for v in variants for o in rbac_objects(v, roles, cluster_wide)]
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    return variants


def forget(sandbox: Any, variant: Variant) -> None:
    """Delete the variant's namespace; a room its operator left (with the final-backup
    finalizer, which no operator will remove now) goes without it."""
    api = sandbox.api_client()
    try:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "drawgame.dev",
            "v1alpha1",
            variant.room_namespace,
            "gamerooms",
            ROOM,
            {"metadata": {"finalizers": None}},
        )
    except ApiException as error:
        if error.status != 404:
            raise
    client.CoreV1Api(api).delete_namespace(variant.room_namespace)


def verdict(variants: list[Variant]) -> None:
    baseline = variants[0]
    assert baseline.refusals == [], "the baseline (every rule) met a 403:\n" + "\n".join(
        line[:600] for line in baseline.refusals
    )
    assert baseline.reached == [
        "room created",
        "backup CronJob",
        "backup recorded",
        "room deleted",
    ], (
        f"the baseline did not get through the scenario: {baseline.reached}\n"
        + (baseline.log_path.read_text(errors="replace")[-3000:])
    )
    unused = [
        f"{v.removal.describe()} (the scenario reached: {', '.join(v.reached) or 'nothing'})"
        for v in variants[1:]
        if v.removal is not None and not about_the_rule(v)
    ]
    assert unused == [], "rules no scenario step needs (no 403 without them):\n" + "\n".join(unused)


def about_the_rule(variant: Variant) -> list[str]:
    """The refusals that name a resource of the removed rule (the API server's message
    says `cannot VERB resource "RESOURCE"`)."""
    assert variant.removal is not None
    resources = variant.removal.rule["resources"]
    named = [
        line
        for line in variant.refusals
        if any(f'resource \\"{r}\\"' in line or f'resource "{r}"' in line for r in resources)
    ]
    example = named[0][:300] if named else "none"
    print(f"{variant.name}: {variant.removal.describe()}: {len(named)} refusals, e.g. {example}")
    return named


def test_every_rule_of_the_namespaced_install_is_needed(kube_sandbox: Any, tmp_path: Path) -> None:
    values = {"watchNamespaces": ["rules-games"]}  # kopfClusterObservation on, the default
    variants = prepare(kube_sandbox, values, "rn", cluster_wide=False, tmp=tmp_path)
    assert len(variants) > 10, [v.removal for v in variants]
    try:
        # The baseline, first in the list, takes longest; the others mostly stop at their
        # first 403 and make room for the next.
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            done = list(pool.map(lambda v: run_variant(kube_sandbox, v, False, tmp_path), variants))
    finally:
        for variant in variants:
            forget(kube_sandbox, variant)
    verdict(done)


@pytest.fixture
def cluster_sandbox(kube_sandbox_factory: Any) -> Iterator[Any]:
    """A sandbox of its own: cluster-wide operators must not see the other tests' rooms."""
    yield kube_sandbox_factory()


def test_every_rule_of_the_cluster_wide_install_is_needed(
    cluster_sandbox: Any, tmp_path: Path
) -> None:
    variants = prepare(cluster_sandbox, {}, "rc", cluster_wide=True, tmp=tmp_path)
    baseline, *removals = variants
    # Side by side: their start-up list and watch calls, then one room they all handle
    # (their reads of it need no more than the room: the revisions, the admin token).
    shared = Scenario(cluster_sandbox, baseline)
    shared.ns = "rc-shared"
    cluster_sandbox.kubectl("create", "namespace", shared.ns)
    with ExitStack() as stack:
        operators = []

        def start(variant: Variant) -> Operator:
            kubeconfig = token_kubeconfig(
                cluster_sandbox, variant.name, tmp_path / f"{variant.name}.kubeconfig"
            )
            return start_operator(cluster_sandbox, "", variant.log_path, kubeconfig)

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            started = [(v, pool.submit(start, v)) for v in removals]
            for variant, future in started:
                operator = future.result()
                stack.callback(operator.stop)
                operators.append((variant, operator))
        shared.apply_room()
        deadline = time.monotonic() + SIDE_BY_SIDE_SECONDS
        while time.monotonic() < deadline:
            if all(refusals(o) for _, o in operators) or shared.ready():
                break
            time.sleep(0.2)
        for variant, operator in operators:
            variant.refusals = refusals(operator)
    # The rest, and the baseline, alone with the whole scenario.
    for variant in [baseline, *(v for v in removals if not about_the_rule(v))]:
        variant.log_path = variant.log_path.with_suffix(".alone.log")
        variant.reached = []
        run_variant(cluster_sandbox, variant, True, tmp_path)
    verdict(variants)
