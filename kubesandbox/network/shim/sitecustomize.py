"""Started by Python at interpreter start for processes the kubesandbox kubelet runs."""

try:
    import _kubesandbox_shim

    _kubesandbox_shim.install_from_environment()
except Exception as exc:  # never stop a container from starting
    import sys

    print(f"kubesandbox network shim not installed: {exc}", file=sys.stderr)
