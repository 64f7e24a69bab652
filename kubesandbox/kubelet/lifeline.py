"""Container processes die with the sandbox, even when `up` itself is killed with SIGKILL.

The kubelet starts each container in its own session (so it can signal the whole process
group), which also detaches it from the terminal's signals. A clean shutdown stops every
process (SIGTERM, grace, SIGKILL); an unclean one (SIGKILL, a crash) cannot. On Linux the
child therefore asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG). This
covers the container's own process, not processes it forks itself.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child die with this process; None where unsupported."""
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(137)

    return arm
