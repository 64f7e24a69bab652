"""`python -m gameserver.snapshot DB WORK_DIR ROOM VERSION`: the admin backup's worker.

The room runs the snapshot in a child process rather than on a thread: `iterdump` is
Python code, and on a thread it would share the interpreter lock with the room's event
loop, delaying every broadcast by up to a switch interval each time the loop waits for
it. Prints the manifest as one JSON line; a failure goes to stderr with exit code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gameserver.backup import BackupError, make_snapshot


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m gameserver.snapshot DB WORK_DIR ROOM VERSION", file=sys.stderr)
        return 2
    db, work, room, version = argv
    try:
        snap = make_snapshot(Path(db), Path(work), room, version)
    except (BackupError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(snap.manifest, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
