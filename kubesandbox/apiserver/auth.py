"""Authentication: the admin token, ServiceAccount tokens (TokenRequest), impersonation.

ServiceAccount tokens are JWTs with kube-apiserver's claims, signed with HS256 by a key
that only this API server knows (kube-apiserver signs with RS256 and publishes the key;
nothing here verifies tokens but the server itself). A token is valid while it has not
expired and the ServiceAccount (and the Pod it is bound to, if any) still exists with
the same uid, as kube-apiserver checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors
from .errors import ApiError
from .store import Store

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
ADMIN_USER = "kubernetes-admin"
ISSUER = "https://kubernetes.default.svc.cluster.local"
SA_PREFIX = "system:serviceaccount:"
# kube-apiserver's --service-account-extend-token-expiration: the kubelet asks for 3607 s
# and gets a year, so that Pods whose tokens are not refreshed in time keep working.
KUBELET_EXPIRATION = 3607
EXTENDED_EXPIRATION = 365 * 24 * 3600
MIN_EXPIRATION = 600


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)

    @property
    def privileged(self) -> bool:
        return MASTERS in self.groups

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


ANONYMOUS_USER = UserInfo(ANONYMOUS, (UNAUTHENTICATED,))


def service_account_user(ns: str, name: str, uid: str = "", extra: Any = None) -> UserInfo:
    return UserInfo(
        f"{SA_PREFIX}{ns}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{ns}", AUTHENTICATED),
        uid,
        dict(extra or {}),
    )


def user_from_name(name: str, groups: list[str], uid: str = "") -> UserInfo:
    """The identity an impersonation or a SubjectAccessReview names."""
    parts = name.split(":")
    if name.startswith(SA_PREFIX) and len(parts) == 4:
        base = service_account_user(parts[2], parts[3], uid)
        return UserInfo(name, tuple(dict.fromkeys([*groups, *base.groups])), uid)
    extra = [] if name == ANONYMOUS or AUTHENTICATED in groups else [AUTHENTICATED]
    return UserInfo(name, tuple([*groups, *extra]), uid)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", reason="Unauthorized")


class Credentials:
    """The admin token, the token signing key and the serving certificate of one API
    server; kept in ``DIR`` so that a restarted sandbox accepts the tokens it issued."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.admin_token = self._secret("admin-token")
        self.signing_key = self._secret("signing-key").encode()
        self.cert_file = directory / "ca.crt"
        self.key_file = directory / "tls.key"
        if not (self.cert_file.exists() and self.key_file.exists()):
            _self_signed(self.cert_file, self.key_file)
        self.ca_pem = self.cert_file.read_text()

    def _secret(self, name: str) -> str:
        path = self.dir / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def _self_signed(cert: Path, key: Path) -> None:
    """One self-signed certificate that is both the CA Pods trust and the server's."""
    if shutil.which("openssl") is None:
        raise RuntimeError(
            "kubesandbox needs the `openssl` command to make its TLS certificate: "
            "install it (Debian: apt-get install openssl)"
        )
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=kubesandbox-apiserver", "-days", "3650",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
            "DNS:kubernetes.default.svc.cluster.local",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)


class Authenticator:
    def __init__(self, store: Store, credentials: Credentials) -> None:
        self.store = store
        self.credentials = credentials
        self.admin = UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))

    # ------------------------------------------------------------ tokens
    def issue(
        self,
        sa: dict[str, Any],
        seconds: int,
        audiences: list[str] | None = None,
        bound: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        meta = sa["metadata"]
        now = int(time.time())
        if seconds == KUBELET_EXPIRATION and bound and bound.get("kind") == "Pod":
            seconds = EXTENDED_EXPIRATION
        scope: dict[str, Any] = {
            "namespace": meta["namespace"],
            "serviceaccount": {"name": meta["name"], "uid": meta["uid"]},
        }
        if bound:
            scope[bound["kind"].lower()] = {"name": bound["name"], "uid": bound.get("uid", "")}
        claims = {
            "aud": audiences or [ISSUER],
            "exp": now + seconds,
            "iat": now,
            "nbf": now,
            "iss": ISSUER,
            "jti": secrets.token_hex(16),
            "kubernetes.io": scope,
            "sub": f"{SA_PREFIX}{meta['namespace']}:{meta['name']}",
        }
        head = _b64(b'{"alg":"HS256","typ":"JWT"}')
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signed = f"{head}.{body}"
        return f"{signed}.{self._sign(signed)}", now + seconds

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self.credentials.signing_key, text.encode(), hashlib.sha256).digest())

    def _verify(self, token: str) -> UserInfo | None:
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(
            self._sign(f"{parts[0]}.{parts[1]}"), parts[2]
        ):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
            scope = claims["kubernetes.io"]
            ns, sa = scope["namespace"], scope["serviceaccount"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            return None
        found = self.store.get(("", "serviceaccounts"), ns, sa["name"])
        if found is None or found["metadata"]["uid"] != sa["uid"]:
            return None
        extra = {"authentication.kubernetes.io/credential-id": [f"JTI={claims.get('jti', '')}"]}
        pod = scope.get("pod")
        if pod:
            live = self.store.get(("", "pods"), ns, pod["name"])
            if live is None or live["metadata"]["uid"] != pod["uid"]:
                return None
            extra["authentication.kubernetes.io/pod-name"] = [pod["name"]]
            extra["authentication.kubernetes.io/pod-uid"] = [pod["uid"]]
        return service_account_user(ns, sa["name"], sa["uid"], extra)

    # ------------------------------------------------------------ requests
    def authenticate(self, authorization: str | None) -> UserInfo:
        if not authorization:
            return ANONYMOUS_USER
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        if hmac.compare_digest(token, self.credentials.admin_token):
            return self.admin
        user = self._verify(token)
        if user is None:
            raise unauthorized()
        return user


def impersonation(headers: Any) -> tuple[str, list[str], str, dict[str, list[str]]] | None:
    """(user, groups, uid, extra) asked for with Impersonate-* headers, or None."""
    user = headers.get("Impersonate-User")
    groups = headers.getall("Impersonate-Group", [])
    uid = headers.get("Impersonate-Uid", "")
    extra: dict[str, list[str]] = {}
    for key in headers:
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(key[len("impersonate-extra-") :].lower(), []).extend(
                headers.getall(key)
            )
    if user is None:
        if groups or uid or extra:
            raise errors.bad_request(
                "requested [Impersonate-Group/Uid/Extra] without impersonating a user"
            )
        return None
    return user, groups, uid, extra
