"""Loopback address blocks per running sandbox, so several sandboxes can run at once.

Loopback addresses are shared by every process on the machine. Each sandbox claims a
slot (an exclusive lock file, released when the process ends), and the slot picks its
blocks: slot 0 uses pod IPs 127.0.0.10... (the documented default), slot 1 127.1.x.y,
slot 2 127.3.x.y and so on (127.2.0.0/16 is for Service ClusterIPs, where slot k owns
127.2.(8k)-(8k+7).x: 2,000 ClusterIPs per sandbox).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import pathlib
import tempfile
from dataclasses import dataclass
from typing import IO

MAX_SLOTS = 32
SERVICE_OCTET = 2


def _slot_dir() -> pathlib.Path:
    path = pathlib.Path(tempfile.gettempdir()) / f"kubesandbox-net-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pod_octet(index: int) -> int:
    """The second octet of slot ``index``'s pod network (0, 1, 3, 4, ...)."""
    return index if index < SERVICE_OCTET else index + 1


@dataclass
class NetworkSlot:
    index: int
    _handle: IO[str] | None = None

    @property
    def first_pod_ip(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(f"127.{pod_octet(self.index)}.0.10")

    @property
    def last_pod_ip(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(f"127.{pod_octet(self.index)}.255.254")

    @property
    def service_first(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(f"127.{SERVICE_OCTET}.{self.index * 8}.1")

    @property
    def service_last(self) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(f"127.{SERVICE_OCTET}.{self.index * 8 + 7}.254")

    @property
    def service_cidr(self) -> str:
        """This slot's ClusterIP block, for the API server's allocator."""
        return f"127.{SERVICE_OCTET}.{self.index * 8}.0/21"

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def claim_slot(preferred: int | None = None) -> NetworkSlot:
    """Claim the lowest free slot (or ``preferred`` if free); held until released/exit."""
    order = list(range(MAX_SLOTS))
    if preferred is not None and 0 <= preferred < MAX_SLOTS:
        order.remove(preferred)
        order.insert(0, preferred)
    directory = _slot_dir()
    for index in order:
        handle = open(directory / f"slot-{index}.lock", "a+")  # noqa: SIM115 - held open
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return NetworkSlot(index, handle)
    raise RuntimeError(
        f"all {MAX_SLOTS} kubesandbox network slots are in use on this machine; "
        "stop a running sandbox (python -m kubesandbox down)"
    )
