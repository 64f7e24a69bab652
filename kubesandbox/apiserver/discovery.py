"""Discovery documents: legacy (`/api`, `/apis`, `/apis/G/V`) and aggregated (v2)."""

from __future__ import annotations

import hashlib
from typing import Any

from .resources import SUBRESOURCE_KINDS, SUBRESOURCE_VERBS, ResourceType

AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_CT_BETA = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:11]


def resource_list(group: str, version: str, types: list[ResourceType]) -> dict[str, Any]:
    gv = f"{group}/{version}" if group else version
    resources: list[dict[str, Any]] = []
    for rt in sorted(types, key=lambda r: r.plural):
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
            "storageVersionHash": _hash(f"{gv}/{rt.kind}"),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            g, v, k = SUBRESOURCE_KINDS[sub]
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": k or rt.kind,
                "verbs": list(SUBRESOURCE_VERBS[sub]),
            }
            if g:
                sub_entry["group"] = g
                sub_entry["version"] = v
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(groups: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group_entry(g, vs) for g, vs in sorted(groups.items(), key=_group_order) if g],
    }


def _group_order(item: tuple[str, list[str]]) -> tuple[int, str]:
    group = item[0]
    builtin = group.endswith(".k8s.io") or "." not in group
    return (0 if builtin else 1, group)


def aggregated(
    groups: dict[str, list[str]],
    by_gv: dict[tuple[str, str], dict[str, ResourceType]],
    *,
    core: bool,
    beta: bool = False,
) -> dict[str, Any]:
    items = []
    for group, versions in sorted(groups.items(), key=_group_order):
        if core != (group == ""):
            continue
        vlist = []
        for v in versions:
            resources = []
            for rt in sorted(by_gv.get((group, v), {}).values(), key=lambda r: r.plural):
                entry: dict[str, Any] = {
                    "resource": rt.plural,
                    "responseKind": {"group": group, "version": v, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular,
                    "verbs": list(rt.verbs),
                }
                if rt.short_names:
                    entry["shortNames"] = list(rt.short_names)
                if rt.categories:
                    entry["categories"] = list(rt.categories)
                subs = []
                for sub in rt.subresources:
                    g, sv, k = SUBRESOURCE_KINDS[sub]
                    subs.append(
                        {
                            "subresource": sub,
                            "responseKind": {
                                "group": g if k else group,
                                "version": sv or v,
                                "kind": k or rt.kind,
                            },
                            "verbs": list(SUBRESOURCE_VERBS[sub]),
                        }
                    )
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            vlist.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": vlist})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2beta1" if beta else "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }
