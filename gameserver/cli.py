"""`python -m gameserver COMMAND`: serve, backup, restore, verify, smoke-test, and the Job
commands backup-job, restore-job and list-backups (gameserver/jobs.py)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from gameserver import __version__, jobs, logs
from gameserver.backup import (
    BackupError,
    backup_name,
    load_dump,
    manifest_path_for,
    prune,
    read_manifest,
    verify_file,
)
from gameserver.roomstate import RoomStateError
from gameserver.settings import SettingsError, read_token_file, resolve_settings
from gameserver.store import StoreError

log = structlog.get_logger("gameserver.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameserver", description="One drawing-and-guessing room (see gameserver/README.md)"
    )
    parser.add_argument("--version", action="version", version=f"gameserver {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve one room")
    serve.add_argument("--config", help="YAML or JSON room config (env GAMESERVER_CONFIG)")
    serve.add_argument("--room-name", help="room name (env GAMESERVER_ROOM_NAME)")
    serve.add_argument("--host", help="listen address (env GAMESERVER_HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="game port (env GAMESERVER_PORT, default 8080)")
    serve.add_argument(
        "--admin-port", type=int, help="admin port (env GAMESERVER_ADMIN_PORT, default 8081)"
    )
    serve.add_argument("--db", help="SQLite file (env GAMESERVER_DB, default ./gameroom.db)")
    serve.add_argument("--log-format", choices=["json", "console"], help="log format")
    serve.add_argument(
        "--admin-token-file", help="file holding the admin token (env GAMESERVER_ADMIN_TOKEN_FILE)"
    )

    def admin_client(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", required=True, help="admin base URL, e.g. http://room:8081")
        p.add_argument("--token", help="admin token (or GAMESERVER_ADMIN_TOKEN)")
        p.add_argument("--token-file", help="file with the admin token")
        p.add_argument("--timeout", type=float, default=120.0, help="HTTP timeout in seconds")

    backup = sub.add_parser("backup", help="download, verify and keep a backup")
    admin_client(backup)
    backup.add_argument("--dest", required=True, help="directory for the backups")
    backup.add_argument("--retention", type=int, default=7, help="backups to keep (default 7)")

    restore = sub.add_parser("restore", help="restore a backup into a running room")
    admin_client(restore)
    restore.add_argument("--file", required=True, help="backup-YYYYmmdd-HHMMSS.sql to restore")

    verify = sub.add_parser("verify", help="check a backup file against its manifest")
    verify.add_argument("file")

    smoke = sub.add_parser("smoke-test", help="play a short bot session against a room")
    smoke.add_argument("--url", required=True, help="the room's game URL")
    smoke.add_argument("--timeout", type=float, default=20.0)

    jobs.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "serve": cmd_serve,
        "backup": cmd_backup,
        "restore": cmd_restore,
        "verify": cmd_verify,
        "smoke-test": cmd_smoke,
        "backup-job": jobs.cmd_backup_job,
        "restore-job": jobs.cmd_restore_job,
        "list-backups": jobs.cmd_list_backups,
    }[args.command]
    return handler(args)


# ------------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    flags = {
        "config": args.config,
        "room_name": args.room_name,
        "host": args.host,
        "port": args.port,
        "admin_port": args.admin_port,
        "db": args.db,
        "log_format": args.log_format,
        "admin_token_file": args.admin_token_file,
    }
    try:
        settings = resolve_settings(flags)
    except SettingsError as exc:
        # Logging is not set up yet: the line still follows the format asked for.
        fmt = args.log_format or os.environ.get("GAMESERVER_LOG_FORMAT") or None
        logs.fatal(str(exc), fmt if fmt in ("json", "console") else None)
        return 2
    logs.configure(settings.log_format)
    gc.freeze()  # start-up objects never need collecting: shorter GC pauses later
    try:
        return asyncio.run(_serve(settings))
    except (StoreError, RoomStateError, OSError) as exc:
        log.error("cannot_start", error=f"cannot start: {exc}")
        return 1
    except Exception:
        log.exception("crashed")
        return 1


async def _serve(settings: Any) -> int:
    from gameserver.runner import start_room

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    room = await start_room(settings)
    if not settings.admin_token:
        log.warning("admin_api_disabled", hint="set GAMESERVER_ADMIN_TOKEN(_FILE)")
    if settings.log_format == "console":
        # For a person at a terminal; in JSON mode the `serving` line carries the URL.
        print(f'Room "{settings.room_name}" is open at {room.url}', flush=True)
    log.info(
        "serving",
        room=settings.room_name,
        url=room.url,
        listen=f"{room.listen_host}:{room.port}",
        admin=room.admin_url,
        db=str(settings.db_path),
        version=settings.version,
    )
    await stop.wait()
    log.info("stopping", reason="signal")
    await room.stop("restart")
    return 0


# ----------------------------------------------------------------- admin client


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    if args.token_file:
        return read_token_file(args.token_file)
    if os.environ.get("GAMESERVER_ADMIN_TOKEN"):
        return os.environ["GAMESERVER_ADMIN_TOKEN"].strip()
    if os.environ.get("GAMESERVER_ADMIN_TOKEN_FILE"):
        return read_token_file(os.environ["GAMESERVER_ADMIN_TOKEN_FILE"])
    raise SettingsError(
        "no admin token: pass --token or --token-file, or set GAMESERVER_ADMIN_TOKEN(_FILE)"
    )


def _http_error(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8", "replace"))
        detail = body.get("error", body)
    except ValueError:
        detail = exc.reason
    return f"HTTP {exc.code}: {detail}"


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        token = _token(args)
    except SettingsError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 2
    dest = Path(args.dest)
    if args.retention < 1:
        print("backup failed: --retention must be at least 1", file=sys.stderr)
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    url = args.url.rstrip("/") + "/admin/backup"
    request = urllib.request.Request(  # noqa: S310 (http(s) URL of the admin API)
        url, headers={"Authorization": f"Bearer {token}"}
    )
    partial = dest / f".backup-{os.getpid()}.partial"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310
            manifest = json.loads(response.headers.get("X-Backup-Manifest") or "null")
            with partial.open("wb") as fh:
                while chunk := response.read(1 << 16):
                    digest.update(chunk)
                    fh.write(chunk)
    except urllib.error.HTTPError as exc:
        print(f"backup failed: {url}: {_http_error(exc)}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"backup failed: cannot download {url}: {exc}", file=sys.stderr)
        partial.unlink(missing_ok=True)
        return 1
    if not isinstance(manifest, dict):
        partial.unlink(missing_ok=True)
        print("backup failed: the server sent no X-Backup-Manifest header", file=sys.stderr)
        return 1
    try:
        created = datetime.strptime(manifest["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        created = datetime.now(UTC)
    final = dest / backup_name(created)
    if final.exists():
        partial.unlink(missing_ok=True)
        print(
            f"backup failed: {final} already exists (a backup taken in the same second);"
            " it is left as it is: run the backup again",
            file=sys.stderr,
        )
        return 1
    # Scratch space beside the backups: the root filesystem may be read-only.
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=dest) as tmp:
        result = load_dump(partial, manifest, Path(tmp) / "verify.db")
    if not result.ok:
        bad = final.with_name(final.name + ".failed")
        partial.replace(bad)
        print(f"backup failed verification, kept as {bad}: {result.report()}", file=sys.stderr)
        return 1
    partial.replace(final)
    manifest["file"] = final.name
    manifest["verifiedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest_path_for(final).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    removed = prune(dest, args.retention)
    print(f"backup written: {final} ({manifest.get('bytes')} bytes, sha256 {digest.hexdigest()})")
    print(f"verified: {result.report()}")
    if removed:
        print("pruned: " + ", ".join(p.name for p in removed))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        token = _token(args)
    except SettingsError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 2
    dump = Path(args.file)
    if not dump.is_file():
        print(f"restore failed: {dump} does not exist", file=sys.stderr)
        return 2
    try:
        manifest = read_manifest(manifest_path_for(dump))
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sql"}
    if manifest is not None:
        headers["X-Backup-Manifest"] = json.dumps(manifest, separators=(",", ":"))
    else:
        print(f"warning: no manifest beside {dump}; the server checks structure only")
    url = args.url.rstrip("/") + "/admin/restore"
    request = urllib.request.Request(  # noqa: S310
        url, data=dump.read_bytes(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        print(f"restore failed: {_http_error(exc)}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"restore failed: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    total = sum(body.get("rowCounts", {}).values())
    print(f"restored {dump.name}: {total} rows, room phase {body.get('phase')}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    result = verify_file(Path(args.file))
    print(f"{args.file}: {result.report()}")
    for problem in result.problems if result.ok else []:
        print(f"warning: {problem}")
    return 0 if result.ok else 1


def cmd_smoke(args: argparse.Namespace) -> int:
    from gameserver import smoke  # imported lazily: `serve` does not need it

    return int(smoke.cli_main(args.url, args.timeout))
