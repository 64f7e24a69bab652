"""The chart's CRDs: the GameRoom CRD identical to crds/gameroom.yaml, and the peering CRDs
Kopf looks for."""

from __future__ import annotations

from kopf._cogs.structs import references

from .chart import CHART, ROOT, crd_documents


def test_chart_carries_the_gameroom_crd_unchanged() -> None:
    source = (ROOT / "crds" / "gameroom.yaml").read_bytes()
    copy = (CHART / "crds" / "gameroom.yaml").read_bytes()
    assert copy == source, (
        "charts/gameroom-operator/crds/gameroom.yaml differs from crds/gameroom.yaml: "
        "run `cp crds/gameroom.yaml charts/gameroom-operator/crds/gameroom.yaml`"
    )


def test_peering_crds_are_the_ones_kopf_selects() -> None:
    crds = {d["spec"]["names"]["plural"]: d for d in crd_documents()}
    for selector, scope in (
        (references.CLUSTER_PEERINGS_K, "Cluster"),
        (references.NAMESPACED_PEERINGS_K, "Namespaced"),
    ):
        crd = crds[selector.any_name]
        assert crd["spec"]["group"] == selector.group
        assert [v["name"] for v in crd["spec"]["versions"]] == [selector.version]
        assert crd["spec"]["scope"] == scope
