"""Object semantics with the official client: identity, versions, conflicts, selectors,
pagination and Status bodies shaped like kube-apiserver's."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from .conftest import unique


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def test_create_assigns_uid_timestamp_and_increasing_resource_versions(api, namespace):
    core = client.CoreV1Api(api)
    a = core.create_namespaced_config_map(namespace, _cm("a", x="1"))
    b = core.create_namespaced_config_map(namespace, _cm("b", x="1"))
    assert a.metadata.uid and b.metadata.uid and a.metadata.uid != b.metadata.uid
    assert a.metadata.creation_timestamp is not None
    assert int(b.metadata.resource_version) > int(a.metadata.resource_version)
    listed = core.list_namespaced_config_map(namespace)
    assert int(listed.metadata.resource_version) >= int(b.metadata.resource_version)
    assert {"a", "b"} <= {i.metadata.name for i in listed.items}


def test_generate_name_makes_unique_names(api, namespace):
    core = client.CoreV1Api(api)
    names = {
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
        ).metadata.name
        for _ in range(5)
    }
    assert len(names) == 5
    assert all(n.startswith("gen-") and len(n) == len("gen-") + 5 for n in names)


def test_generation_bumps_only_on_spec_changes(api, namespace):
    apps = client.AppsV1Api(api)
    body = {
        "metadata": {"name": "gen"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "gen"}},
            "template": {
                "metadata": {"labels": {"app": "gen"}},
                "spec": {"containers": [{"name": "c", "image": "example.com/x:1"}]},
            },
        },
    }
    d = apps.create_namespaced_deployment(namespace, body)
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", namespace, {"metadata": {"labels": {"a": "b"}}})
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment(
        "gen", namespace, {"spec": {"replicas": 0, "paused": True}}
    )
    assert d.metadata.generation == 2


def test_no_op_write_keeps_the_resource_version(api, namespace):
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(namespace, _cm("noop", v="1"))
    again = core.patch_namespaced_config_map("noop", namespace, {"data": {"v": "1"}})
    assert again.metadata.resource_version == cm.metadata.resource_version


def test_stale_resource_version_gets_409_conflict(api, namespace):
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(namespace, _cm("c", v="1"))
    stale = cm.metadata.resource_version
    cm.data = {"v": "2"}
    core.replace_namespaced_config_map("c", namespace, cm)
    cm.data = {"v": "3"}
    cm.metadata.resource_version = stale
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("c", namespace, cm)
    assert err.value.status == 409
    status = json.loads(err.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    # a patch carrying the stale resourceVersion is refused the same way
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_config_map(
            "c", namespace, {"metadata": {"resourceVersion": stale}, "data": {"v": "4"}}
        )
    assert err.value.status == 409


def test_already_exists_and_not_found_status_bodies(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, _cm("dup"))
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map(namespace, _cm("dup"))
    body = json.loads(err.value.body)
    assert err.value.status == 409
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "dup" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "dup", "kind": "configmaps"},
        "code": 409,
    }
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("missing", namespace)
    body = json.loads(err.value.body)
    assert err.value.status == 404
    assert body["reason"] == "NotFound" and body["message"] == 'configmaps "missing" not found'
    with pytest.raises(client.ApiException) as err:
        client.AppsV1Api(api).read_namespaced_deployment("nope", namespace)
    assert json.loads(err.value.body)["message"] == 'deployments.apps "nope" not found'


def test_create_in_missing_namespace_is_404(api):
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).create_namespaced_config_map(unique("nons"), _cm("x"))
    assert err.value.status == 404
    assert json.loads(err.value.body)["message"].startswith('namespaces "nons-')


def test_invalid_name_is_422_with_cause(api, namespace):
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(api).create_namespaced_config_map(namespace, _cm("Bad_Name"))
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: '
        'Invalid value: "Bad_Name": a lowercase RFC 1123'
    )
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_label_selectors_equality_and_set_based(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, _cm("l1", {"app": "a", "tier": "web"}))
    core.create_namespaced_config_map(namespace, _cm("l2", {"app": "b", "tier": "web"}))
    core.create_namespaced_config_map(namespace, _cm("l3", {"app": "c"}))

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map(namespace, label_selector=selector).items
        return sorted(i.metadata.name for i in items)

    assert names("app=a") == ["l1"]
    assert names("app!=a,tier") == ["l2"]
    assert names("app in (a,c)") == ["l1", "l3"]
    assert names("app notin (a,c),tier=web") == ["l2"]
    assert names("!tier") == ["kube-root-ca.crt", "l3"]  # in every namespace, as on a cluster
    assert names("tier,app in (b)") == ["l2"]


def test_field_selectors_name_namespace_and_pod_phase(api, namespace):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, _cm("f1"))
    core.create_namespaced_config_map(namespace, _cm("f2"))
    got = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.name=f1,metadata.namespace={namespace}"
    ).items
    assert [i.metadata.name for i in got] == ["f1"]
    got = core.list_namespaced_config_map(namespace, field_selector="metadata.name!=f1").items
    assert "f1" not in {i.metadata.name for i in got} and "f2" in {i.metadata.name for i in got}
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "example.com/x:1"}]},
    }
    core.create_namespaced_pod(namespace, pod)
    pods = core.list_namespaced_pod(namespace, field_selector="status.phase!=Succeeded").items
    assert [p.metadata.name for p in pods] == ["p"]
    assert core.list_namespaced_pod(namespace, field_selector="status.phase=Succeeded").items == []
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert err.value.status == 400 and "field label not supported" in err.value.body


def test_event_field_selectors_on_involved_object(api, namespace):
    core = client.CoreV1Api(api)
    for i, kind in enumerate(("Pod", "Deployment")):
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"name": f"ev{i}"},
                "involvedObject": {
                    "kind": kind,
                    "name": "thing",
                    "namespace": namespace,
                    "uid": f"uid-{i}",
                },
                "reason": "Tested",
                "message": "m",
                "type": "Normal",
            },
        )
    got = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=Deployment,involvedObject.name=thing"
    )
    assert [e.metadata.name for e in got.items] == ["ev1"]
    got = core.list_namespaced_event(namespace, field_selector="involvedObject.uid=uid-0")
    assert [e.metadata.name for e in got.items] == ["ev0"]


def test_events_k8s_io_field_selectors_on_regarding(api, namespace):
    events = client.EventsV1Api(api)
    for i, kind in enumerate(("Pod", "Deployment")):
        events.create_namespaced_event(
            namespace,
            {
                "metadata": {"name": f"nev{i}"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "regarding": {"kind": kind, "name": "thing", "namespace": namespace},
                "reason": "Tested" if i else "Other",
                "note": "m",
                "type": "Normal",
                "action": "Testing",
                "reportingController": "tests",
                "reportingInstance": "tests-1",
            },
        )
    got = events.list_namespaced_event(
        namespace, field_selector="regarding.kind=Deployment,regarding.name=thing"
    )
    assert [e.metadata.name for e in got.items] == ["nev1"]
    got = events.list_namespaced_event(
        namespace, field_selector="reason=Other,reportingController=tests"
    )
    assert [e.metadata.name for e in got.items] == ["nev0"]
    with pytest.raises(client.ApiException) as err:
        events.list_namespaced_event(namespace, field_selector="involvedObject.name=thing")
    assert err.value.status == 400


def test_limit_and_continue_page_through_everything(api, namespace):
    core = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_config_map(namespace, _cm(f"page-{i}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
        # 8: the seven and kube-root-ca.crt, which every namespace has
        assert page.metadata.remaining_item_count == 8 - len(seen)
    assert pages == 3
    assert sorted(n for n in seen if n.startswith("page-")) == [f"page-{i}" for i in range(7)]


def test_secret_string_data_is_encoded(api, namespace):
    core = client.CoreV1Api(api)
    s = core.create_namespaced_secret(
        namespace, {"metadata": {"name": "s"}, "stringData": {"token": "abc"}}
    )
    assert s.data == {"token": "YWJj"} and s.type == "Opaque"


def test_service_gets_cluster_ip_from_loopback_range(api, namespace):
    core = client.CoreV1Api(api)
    svc = core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    assert svc.spec.cluster_ip.startswith("127.2.")
    assert svc.spec.cluster_ips == [svc.spec.cluster_ip]
    assert svc.spec.ports[0].protocol == "TCP" and svc.spec.type == "ClusterIP"
    other = core.create_namespaced_service(
        namespace, {"metadata": {"name": "svc2"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert other.spec.cluster_ip != svc.spec.cluster_ip
    headless = core.create_namespaced_service(
        namespace,
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
    )
    assert headless.spec.cluster_ip == "None"


def test_namespace_gets_default_service_account(api, namespace):
    sa = client.CoreV1Api(api).read_namespaced_service_account("default", namespace)
    assert sa.metadata.name == "default"


def test_events_are_one_store_in_two_api_groups(api, namespace):
    core = client.CoreV1Api(api)
    events = client.EventsV1Api(api)
    core.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "from-core"},
            "eventTime": "2026-01-01T00:00:00.000000Z",  # the v1 client model needs one
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
            "reason": "Pulled",
            "message": "written as core/v1",
            "type": "Normal",
            "source": {"component": "kubelet"},
            "count": 2,
        },
    )
    seen = events.read_namespaced_event("from-core", namespace)
    assert (seen.note, seen.regarding.name, seen.deprecated_count) == ("written as core/v1", "p", 2)
    assert seen.deprecated_source.component == "kubelet"
    events.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "from-v1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Pod", "name": "p", "namespace": namespace},
            "reason": "Tested",
            "note": "written as events.k8s.io/v1",
            "type": "Normal",
            "action": "Testing",
            "reportingController": "tests",
            "reportingInstance": "tests-1",
        },
    )
    back = core.read_namespaced_event("from-v1", namespace)
    assert (back.message, back.involved_object.name, back.reporting_component) == (
        "written as events.k8s.io/v1",
        "p",
        "tests",
    )
    listed = events.list_namespaced_event(namespace, field_selector="regarding.name=p")
    assert sorted(e.metadata.name for e in listed.items) == ["from-core", "from-v1"]
    events.delete_namespaced_event("from-core", namespace)
    assert [e.metadata.name for e in core.list_namespaced_event(namespace).items] == ["from-v1"]
