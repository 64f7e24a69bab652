"""`python -m gameroom_operator` / `gameroom-operator`: run the operator."""

from __future__ import annotations

import logging
import sys

import kopf

from . import handlers, logs
from .settings import Settings, from_args


def run(settings: Settings) -> None:
    logs.configure(settings.log_format, settings.log_level)
    kopf.configure(
        verbose=settings.log_level == "DEBUG",
        quiet=settings.log_level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    if settings.log_level != "DEBUG":
        # Kopf logs every handled event of every room at INFO; our own logs say what changed.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
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
