"""`python -m gameroom_operator` / `gameroom-operator`: run the operator."""

from __future__ import annotations

import gc
import sys

import kopf

from . import fastjson, handlers, logs
from .settings import Settings, from_args


def tune_gc() -> None:
    """Collect cyclic garbage less often, and never re-scan what start-up loaded.

    Watch events and API answers allocate many short-lived objects; with the default
    threshold (700) Python's collector ran so often over the operator's long-lived state that
    it took a third of its CPU when a thousand rooms start at once. Freezing moves the
    objects loaded so far (Kopf, the kubernetes client) out of every future collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 10)


GC_THRESHOLD = 20_000


def run(settings: Settings) -> None:
    # Our logs and Kopf's, one format and one `level` key (see logs.py).
    logs.configure(settings.log_format, settings.log_level)
    fastjson.install()
    tune_gc()
    handlers.configure(settings)
    kopf.run(
        standalone=settings.standalone,
        peering_name=settings.peering or None,
        priority=settings.priority,
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
    )


def main(argv: list[str] | None = None) -> int:
    settings = from_args(argv if argv is not None else sys.argv[1:])
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
