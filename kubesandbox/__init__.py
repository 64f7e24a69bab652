"""kubesandbox: a local Kubernetes API server, controllers and kubelet for tests and the
offline demo. Start it with `python -m kubesandbox up`; see kubesandbox/README.md."""

__all__ = ["__version__"]

__version__ = "0.1.0"
