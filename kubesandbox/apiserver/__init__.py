"""kubesandbox's API server: kube-apiserver's REST API over HTTP on loopback."""

from .server import ApiServer

__all__ = ["ApiServer"]
