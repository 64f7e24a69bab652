"""Who a request is and whether it may: authentication, impersonation and RBAC per
request, the review APIs (authorization.k8s.io, authentication.k8s.io) and TokenRequest."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDictProxy, MultiMapping

from . import errors
from .auth import (
    MIN_EXPIRATION,
    SA_PREFIX,
    Authenticator,
    UserInfo,
    impersonation,
    user_from_name,
)
from .errors import cause
from .rbac import Attributes, Authorizer, forbidden
from .store import Store

# kube-apiserver's RequestInfoFactory: the subresources of a namespace are not namespaces
NAMESPACE_SUBRESOURCES = ("status", "finalize")
HTTP_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def request_attributes(method: str, path: str, query: MultiMapping[str]) -> Attributes:
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    is_api = len(parts) >= 3 and parts[0] == "api" or len(parts) >= 4 and parts[0] == "apis"
    if not is_api:
        verb = "get" if method == "HEAD" else method.lower()
        return Attributes(verb=verb, resource_request=False, path=path)
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    attrs = Attributes(verb="", group=group)
    if rest[0] == "namespaces" and len(rest) > 1:
        attrs.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    attrs.resource = rest[0]
    attrs.name = rest[1] if len(rest) > 1 else ""
    attrs.subresource = rest[2] if len(rest) > 2 else ""
    watch = query.get("watch", "").lower() in ("1", "true")
    if method in ("GET", "HEAD"):
        attrs.verb = "watch" if watch else ("get" if attrs.name else "list")
    elif method == "DELETE":
        attrs.verb = "delete" if attrs.name else "deletecollection"
    else:
        attrs.verb = HTTP_VERBS.get(method, method.lower())
    return attrs


def _timestamp(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Access:
    def __init__(self, store: Store, authn: Authenticator) -> None:
        self.store = store
        self.authn = authn
        self.authz = Authorizer(store)

    # ------------------------------------------------------------ per request
    def user_of(self, headers: CIMultiDictProxy[str]) -> UserInfo:
        """The authenticated user, or whom it impersonates (401/403 as kube-apiserver)."""
        user = self.authn.authenticate(headers.get("Authorization"))
        asked = impersonation(headers)
        if asked is None:
            return user
        name, groups, uid, extra = asked
        checks = []
        if name.startswith(SA_PREFIX) and len(name.split(":")) == 4:
            _, _, ns, sa = name.split(":")
            checks.append(
                Attributes("impersonate", namespace=ns, resource="serviceaccounts", name=sa)
            )
        else:
            checks.append(Attributes("impersonate", resource="users", name=name))
        checks += [Attributes("impersonate", resource="groups", name=g) for g in groups]
        if uid:
            checks.append(Attributes("impersonate", resource="uids", name=uid))
        for key, values in extra.items():
            checks += [
                Attributes(
                    "impersonate",
                    group="authentication.k8s.io",
                    resource="userextras",
                    subresource=key,
                    name=v,
                )
                for v in values
            ]
        for attrs in checks:
            allowed, _ = self.authz.authorize(user, attrs)
            if not allowed:
                raise forbidden(user, attrs)
        impersonated = user_from_name(name, groups, uid)
        return UserInfo(impersonated.name, impersonated.groups, uid, extra)

    def check(self, user: UserInfo, attrs: Attributes) -> None:
        allowed, _ = self.authz.authorize(user, attrs)
        if not allowed:
            raise forbidden(user, attrs)

    # ------------------------------------------------------------ reviews
    def review(self, kind: str, group: str, ns: str, body: Any, user: UserInfo) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        status: dict[str, Any]
        if kind == "SelfSubjectReview":
            status = {"userInfo": user.as_json()}
        elif kind == "TokenReview":
            try:
                found = self.authn.authenticate("Bearer " + str(spec.get("token", "")))
                status = {"authenticated": True, "user": found.as_json()}
                status["audiences"] = spec.get("audiences") or []
            except errors.ApiError:
                status = {"authenticated": False, "error": "invalid bearer token"}
        elif kind == "SelfSubjectRulesReview":
            status = self.authz.rules_review(user, str(spec.get("namespace", "")))
        else:
            subject = user
            namespace = None
            if kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
                if not spec.get("user") and not spec.get("groups"):
                    raise errors.invalid(
                        kind,
                        group,
                        "",
                        [
                            cause(
                                "FieldValueInvalid",
                                "spec.user",
                                'Invalid value: "": at least one of user or group must be '
                                "specified",
                            )
                        ],
                    )
                subject = UserInfo(
                    str(spec.get("user", "")), tuple(spec.get("groups") or ()), spec.get("uid", "")
                )
            if kind == "LocalSubjectAccessReview":
                namespace = ns
                res_ns = (spec.get("resourceAttributes") or {}).get("namespace", "")
                if res_ns != ns:
                    raise errors.invalid(
                        kind,
                        group,
                        "",
                        [
                            cause(
                                "FieldValueInvalid",
                                "spec.resourceAttributes.namespace",
                                f'Invalid value: "{res_ns}": must match metadata.namespace',
                            )
                        ],
                    )
            allowed, reason = self.authz.authorize(subject, Attributes.from_review(spec, namespace))
            status = {"allowed": allowed}
            if reason:
                status["reason"] = reason
        meta = dict(body.get("metadata") or {})
        meta["creationTimestamp"] = None
        return {
            "kind": kind,
            "apiVersion": f"{group}/v1",
            "metadata": meta,
            "spec": spec,
            "status": status,
        }

    def token_request(self, ns: str, name: str, body: Any) -> dict[str, Any]:
        """serviceaccounts/token: a token for the account, optionally bound to an object."""
        sa = self.store.get(("", "serviceaccounts"), ns, name)
        if sa is None:
            raise errors.not_found("serviceaccounts", "", name)
        spec = (body or {}).get("spec") or {} if isinstance(body, dict) else {}
        seconds = spec.get("expirationSeconds") or 3600
        if not isinstance(seconds, int) or seconds < MIN_EXPIRATION or seconds > 2**32:
            raise errors.invalid(
                "TokenRequest",
                "authentication.k8s.io",
                name,
                [
                    cause(
                        "FieldValueInvalid",
                        "spec.expirationSeconds",
                        f"Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                        if isinstance(seconds, int) and seconds < MIN_EXPIRATION
                        else f"Invalid value: {seconds}: may not specify a duration larger than "
                        "2^32 seconds",
                    )
                ],
            )
        bound = spec.get("boundObjectRef")
        if isinstance(bound, dict) and bound.get("kind"):
            plural = {"Pod": "pods", "Secret": "secrets"}.get(bound["kind"])
            if plural is None:
                raise errors.bad_request(f"cannot bind token to object of kind {bound['kind']}")
            target = self.store.get(("", plural), ns, bound.get("name", ""))
            if target is None or bound.get("uid") not in (None, "", target["metadata"]["uid"]):
                raise errors.not_found(plural, "", bound.get("name", ""))
            bound = {**bound, "uid": target["metadata"]["uid"]}
        else:
            bound = None
        token, expires = self.authn.issue(sa, seconds, spec.get("audiences"), bound)
        spec = {**spec, "expirationSeconds": seconds}
        spec.setdefault("audiences", ["https://kubernetes.default.svc.cluster.local"])
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": spec,
            "status": {
                "token": token,
                "expirationTimestamp": _timestamp(expires),
            },
        }
