"""The commands a Kubernetes Job runs: `backup-job`, `restore-job` and `list-backups`.

Each prints one JSON line as its result (and writes it to /dev/termination-log, where
Kubernetes reads a container's termination message) so that the operator can read it;
a failure also goes to stderr in words and the exit code is non-zero:
0 done, 1 failed, 2 bad arguments, 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gameserver.backup import BackupError, backup_name, load_dump, sha256_file
from gameserver.destinations import (
    DirectoryDestination,
    S3Destination,
    StoredBackup,
    open_destination,
)
from gameserver.settings import SettingsError, read_token_file

TERMINATION_LOG = "/dev/termination-log"
# Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_LIMIT = 4096
EXIT_FAILED, EXIT_USAGE, EXIT_TERMINATED = 1, 2, 143
RESOLVE_RETRY_SECONDS = 30.0  # see _admin_call
# Backup names have one-second resolution: a second backup in the same second waits.
SAME_SECOND_ATTEMPTS = 3


class JobTerminated(BaseException):
    """SIGTERM arrived: unwind (removing temporary files) and exit 143."""


class UsageError(Exception):
    """Bad arguments or configuration: exit 2."""


def add_parsers(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--destination",
            required=True,
            help="pvc:/backups/ROOM (a directory) or s3://BUCKET/PREFIX",
        )
        p.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (default: AWS)")
        p.add_argument("--s3-region", help="S3 region (or AWS_REGION / AWS_DEFAULT_REGION)")
        p.add_argument(
            "--termination-log",
            default=TERMINATION_LOG,
            help=f"also write the result line here when writable (default {TERMINATION_LOG})",
        )

    def admin(p: argparse.ArgumentParser) -> None:
        p.add_argument("--admin-url", required=True, help="e.g. http://ROOM-admin:8081")
        p.add_argument("--token-file", help="file with the admin token (a mounted Secret)")
        p.add_argument("--timeout", type=float, default=300.0, help="HTTP timeout, seconds")
        p.add_argument(
            "--work-dir",
            help="scratch space for downloads and verification (default: the pvc destination "
            "itself, or the system temp dir for s3)",
        )

    job = sub.add_parser("backup-job", help="take, store, verify and prune a backup (a Job)")
    admin(job)
    common(job)
    job.add_argument("--retention-count", type=int, default=7, help="backups to keep (>= 1)")
    job.add_argument(
        "--retention-max-age-days",
        type=float,
        default=0,
        help="delete backups older than this many days (0: no age limit)",
    )
    job.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the scratch restore (spec.backup.verify: false): the download's size and "
        "sha256 are still checked against the manifest, but the backup is stored unverified",
    )

    restore = sub.add_parser("restore-job", help="verify a stored backup, then restore it")
    admin(restore)
    common(restore)
    restore.add_argument("--backup", default="latest", help="backup name or 'latest'")

    listing = sub.add_parser("list-backups", help="the destination's backups as JSON")
    common(listing)


# ----------------------------------------------------------------- plumbing


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token(args: argparse.Namespace) -> str:
    try:
        if args.token_file:
            return read_token_file(args.token_file)
        if os.environ.get("GAMESERVER_ADMIN_TOKEN"):
            return os.environ["GAMESERVER_ADMIN_TOKEN"].strip()
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc
    raise UsageError("no admin token: pass --token-file or set GAMESERVER_ADMIN_TOKEN")


def _emit(result: dict[str, Any], termination_log: str) -> None:
    line = json.dumps(result, separators=(",", ":"), sort_keys=True)
    print(line, flush=True)
    message = line
    if len(message.encode()) > TERMINATION_LIMIT:
        short = {k: v for k, v in result.items() if k not in ("rowCounts", "pruned")}
        short["prunedCount"] = len(result.get("pruned") or [])
        message = json.dumps(short, separators=(",", ":"), sort_keys=True)
    with contextlib.suppress(OSError):
        if os.access(termination_log, os.W_OK):
            with open(termination_log, "w", encoding="utf-8") as fh:
                fh.write(message)


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises JobTerminated so that `finally` blocks remove temporary files."""

    def handler(signum: int, frame: Any) -> None:
        raise JobTerminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(command: str, args: argparse.Namespace, body: Any) -> int:
    started = time.monotonic()
    try:
        with _sigterm_unwinds():
            result = body(args)
    except UsageError as exc:
        reason, code = str(exc), EXIT_USAGE
    except BackupError as exc:
        reason, code = str(exc), EXIT_FAILED
    except JobTerminated:
        reason, code = "stopped by SIGTERM before it finished; nothing was stored", EXIT_TERMINATED
    except Exception as exc:
        # A bug or an answer nobody foresaw: the operator still gets a result line.
        traceback.print_exc()
        reason, code = f"unexpected error: {exc!r}", EXIT_FAILED
    else:
        result = {"command": command, "succeeded": True, **result}
        result["durationSeconds"] = round(time.monotonic() - started, 3)
        _emit(result, args.termination_log)
        return 0
    print(f"{command} failed: {reason}", file=sys.stderr, flush=True)
    failure = {
        "command": command,
        "succeeded": False,
        "reason": reason,
        "time": _utc(datetime.now(UTC)),
        "durationSeconds": round(time.monotonic() - started, 3),
    }
    _emit(failure, args.termination_log)
    return code


def _destination(args: argparse.Namespace) -> DirectoryDestination | S3Destination:
    try:
        return open_destination(
            args.destination, s3_endpoint=args.s3_endpoint, s3_region=args.s3_region
        )
    except BackupError as exc:
        raise UsageError(str(exc)) from exc


def _http_error(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8", "replace"))
        detail = body.get("error", body) if isinstance(body, dict) else body
    except ValueError:
        detail = exc.reason
    return f"HTTP {exc.code}: {detail}"


def _admin_call(url: str, what: str, request: urllib.request.Request, timeout: float) -> Any:
    """Open `request`; a refusal or an unreachable room becomes a BackupError.

    A name that does not resolve is tried again for RESOLVE_RETRY_SECONDS: the room's admin
    Service may be moments old (a restore into a room that just started), and cluster DNS
    catches up. Nothing has been sent then, so sending again is safe."""
    deadline = time.monotonic() + RESOLVE_RETRY_SECONDS
    delay = 0.25
    while True:
        try:
            return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (admin URL)
        except urllib.error.HTTPError as exc:
            raise BackupError(f"{what}: {url} answered {_http_error(exc)}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, socket.gaierror) and time.monotonic() + delay < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 4.0)
                continue
            raise BackupError(f"{what}: cannot reach the room at {url}: {reason}") from exc


def _work_dir(args: argparse.Namespace, dest: DirectoryDestination | S3Destination) -> Path:
    if args.work_dir:
        return Path(args.work_dir)
    if isinstance(dest, DirectoryDestination):
        return dest.path  # same filesystem: the finished download is renamed, not copied
    return Path(tempfile.gettempdir())


# ----------------------------------------------------------------- backup-job


def cmd_backup_job(args: argparse.Namespace) -> int:
    return _run("backup", args, _backup_job)


def _backup_job(args: argparse.Namespace) -> dict[str, Any]:
    if args.retention_count < 1:
        raise UsageError("--retention-count must be at least 1")
    if args.retention_max_age_days < 0:
        raise UsageError("--retention-max-age-days must be 0 (no limit) or more")
    token = _token(args)
    dest = _destination(args)
    dest.check_writable()  # before the room does any work
    work = _work_dir(args, dest)
    url = args.admin_url.rstrip("/") + "/admin/backup"
    partial = work / f".backup-{os.getpid()}-{time.time_ns()}.partial"
    try:
        for _ in range(SAME_SECOND_ATTEMPTS):
            manifest, created = _download(url, token, partial, args.timeout)
            name = backup_name(created)
            if name not in {b.name for b in dest.backups()}:
                break
            # A backup already finished in this very second (names have one-second
            # resolution): ask the room again once its clock has moved on.
            time.sleep(max(0.0, created.timestamp() + 1 - time.time()) + 0.05)
        else:
            raise BackupError(f"{name} already exists in {dest.label}; it is left as it is")
        if args.verify:
            with tempfile.TemporaryDirectory(prefix=".verify-", dir=work) as tmp:
                verification = load_dump(partial, manifest, Path(tmp) / "verify.db")
            if not verification.ok:
                raise BackupError(f"the backup did not verify: {verification.report()}")
            row_counts = verification.row_counts
            schema_version = verification.schema_version
            manifest.update(
                file=name,
                verified=True,
                verifiedAt=_utc(datetime.now(UTC)),
                integrityCheck="ok",
            )
        else:
            # No scratch restore, but a download that is not what the room sent is still
            # refused: that check costs one read of the file.
            digest = sha256_file(partial)
            if digest != manifest.get("sha256"):
                raise BackupError(
                    f"the download's sha256 {digest} is not the manifest's "
                    f"{manifest.get('sha256')}: nothing was stored"
                )
            counts = manifest.get("rowCounts")
            row_counts = dict(counts) if isinstance(counts, dict) else {}
            schema_version = int(manifest.get("schemaVersion") or 0)
            manifest.update(file=name, verified=False)
        dest.put_manifest(name, manifest)
        try:
            dest.put(partial, name)
        except BaseException:
            with contextlib.suppress(BackupError):
                dest.delete(name)
            raise
    finally:
        partial.unlink(missing_ok=True)
    try:
        pruned = prune(dest, name, args.retention_count, args.retention_max_age_days)
    except BackupError as exc:
        raise BackupError(f"{name} was stored and verified, but pruning failed: {exc}") from exc
    if isinstance(dest, DirectoryDestination):
        dest.sweep_partials()
    try:
        count: int | None = len(dest.backups())  # status.backup.count, for the operator
    except BackupError:
        count = None
    return {
        "name": name,
        "time": manifest["createdAt"],
        "sizeBytes": manifest.get("bytes"),
        "rows": sum(row_counts.values()),
        "rowCounts": row_counts,
        "sha256": manifest.get("sha256"),
        "schemaVersion": schema_version,
        "verified": bool(args.verify),
        "pruned": pruned,
        "count": count,
        "destination": dest.label,
    }


def _download(
    url: str, token: str, partial: Path, timeout: float
) -> tuple[dict[str, Any], datetime]:
    """Stream the room's snapshot into `partial`: its manifest and the time it was taken."""
    request = urllib.request.Request(  # noqa: S310 (http(s) admin URL)
        url, headers={"Authorization": f"Bearer {token}"}
    )
    with _admin_call(url, "cannot take a backup", request, timeout) as response:
        raw = response.headers.get("X-Backup-Manifest")
        expected = response.headers.get("Content-Length")
        received = 0
        try:
            with partial.open("wb") as fh:
                while chunk := response.read(1 << 16):
                    received += len(chunk)
                    fh.write(chunk)
        except http.client.HTTPException as exc:
            raise BackupError(f"the download from {url} was cut short: {exc!r}") from exc
        except OSError as exc:
            raise BackupError(f"cannot download {url} to {partial.parent}: {exc}") from exc
    if expected is not None and expected.isdigit() and received != int(expected):
        raise BackupError(f"the download from {url} was cut short: {received} of {expected} bytes")
    try:
        manifest = json.loads(raw or "null")
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or "createdAt" not in manifest:
        raise BackupError(f"{url} sent no valid X-Backup-Manifest header: is it a room?")
    try:
        created = datetime.strptime(manifest["createdAt"], "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError) as exc:
        raise BackupError(f"the manifest's createdAt is not a UTC time: {exc}") from exc
    return manifest, created.replace(tzinfo=UTC)


def prune_plan(
    backups: list[StoredBackup], keep: str, count: int, max_age_days: float, now: datetime
) -> list[str]:
    """Names to delete: beyond the newest `count`, or older than `max_age_days` (if > 0).

    `keep` (the backup just written) is never among them, whatever its name or age."""
    others = sorted((b for b in backups if b.name != keep), key=lambda b: b.name, reverse=True)
    doomed = {b.name for b in others[max(0, count - 1) :]}
    if max_age_days > 0:
        cutoff = now - timedelta(days=max_age_days)
        doomed |= {b.name for b in others if b.time < cutoff}
    return sorted(doomed)


def prune(
    dest: DirectoryDestination | S3Destination, keep: str, count: int, max_age_days: float
) -> list[str]:
    doomed = prune_plan(dest.backups(), keep, count, max_age_days, datetime.now(UTC))
    for name in doomed:
        dest.delete(name)
    return doomed


# ----------------------------------------------------------------- restore-job


def cmd_restore_job(args: argparse.Namespace) -> int:
    return _run("restore", args, _restore_job)


def _pick(dest: DirectoryDestination | S3Destination, wanted: str) -> StoredBackup:
    backups = dest.backups()
    if wanted == "latest":
        verified = [b for b in backups if b.manifest is not None]
        if not verified:
            raise BackupError(f"{dest.label} holds no backup with a manifest to restore")
        return verified[-1]
    for backup in backups:
        if backup.name == wanted:
            return backup
    raise BackupError(f"backup {wanted} is not in {dest.label}")


def _restore_job(args: argparse.Namespace) -> dict[str, Any]:
    token = _token(args)
    dest = _destination(args)
    chosen = _pick(dest, args.backup)
    manifest = chosen.manifest or dest.read_manifest(chosen.name)
    if manifest is None:
        raise BackupError(
            f"{chosen.name} has no manifest in {dest.label}: without it the dump cannot be "
            "checked against its sha256 and row counts, so it is not restored"
        )
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=work) as tmp:
        local = Path(tmp) / chosen.name
        dest.fetch(chosen.name, local)
        verification = load_dump(local, manifest, Path(tmp) / "verify.db")
        if not verification.ok:
            raise BackupError(
                f"{chosen.name} is refused, the room keeps its data: {verification.report()}"
            )
        url = args.admin_url.rstrip("/") + "/admin/restore"
        with local.open("rb") as body:
            request = urllib.request.Request(  # noqa: S310 (http(s) admin URL)
                url,
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/sql",
                    "Content-Length": str(local.stat().st_size),
                    "X-Backup-Manifest": json.dumps(manifest, separators=(",", ":")),
                },
            )
            with _admin_call(url, f"the room refused {chosen.name}", request, args.timeout) as r:
                try:
                    answer = json.loads(r.read())
                except (ValueError, http.client.HTTPException, OSError) as exc:
                    raise BackupError(f"{url} sent no readable answer: {exc}") from exc
            if not isinstance(answer, dict) or answer.get("restored") is not True:
                raise BackupError(f"{url} did not confirm the restore: {answer!r:.300}")
    counts = answer.get("rowCounts") or verification.row_counts
    return {
        "name": chosen.name,
        "time": _utc(chosen.time),
        "sizeBytes": chosen.size_bytes,
        "rows": sum(counts.values()),
        "rowCounts": counts,
        "sha256": manifest.get("sha256"),
        "verified": True,
        "restored": True,
        "clonedFrom": answer.get("clonedFrom"),
        "phase": answer.get("phase"),
        "destination": dest.label,
    }


# ----------------------------------------------------------------- list-backups


def cmd_list_backups(args: argparse.Namespace) -> int:
    try:
        backups = _destination(args).backups()
    except UsageError as exc:
        print(f"list-backups failed: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BackupError as exc:
        print(f"list-backups failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps([b.describe() for b in reversed(backups)], indent=2))
    return 0
