"""Where backup jobs keep backups: a directory (`pvc:/backups/ROOM`) or S3 (`s3://bucket/prefix`).

A backup is two objects, `backup-YYYYmmdd-HHMMSS.sql` and its manifest
`backup-YYYYmmdd-HHMMSS.manifest.json`. Neither is ever visible under its final name
half-written: a directory gets a hidden temporary file renamed into place, S3 gets one
whole upload (a multipart upload only appears when it completes). The manifest is stored
first and the dump last, so a dump that is listed always has its manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gameserver.backup import NAME_RE, BackupError

MANIFEST_SUFFIX = ".manifest.json"
# A job killed with SIGKILL leaves its hidden temporary file; later jobs sweep it away.
STALE_PARTIAL_SECONDS = 3600


def manifest_name(dump_name: str) -> str:
    return dump_name.removesuffix(".sql") + MANIFEST_SUFFIX


def backup_time(name: str) -> datetime:
    """The UTC time a backup's name records (`backup-20261203-164500.sql`)."""
    match = NAME_RE.match(name)
    if match is None:
        raise BackupError(f"{name!r} is not a backup name (backup-YYYYmmdd-HHMMSS.sql)")
    return datetime.strptime(match[1], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)


@dataclass
class StoredBackup:
    name: str
    size_bytes: int
    manifest: dict[str, Any] | None

    @property
    def time(self) -> datetime:
        return backup_time(self.name)

    def describe(self) -> dict[str, Any]:
        manifest = self.manifest or {}
        counts = manifest.get("rowCounts")
        return {
            "name": self.name,
            "time": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sizeBytes": self.size_bytes,
            "rows": sum(counts.values()) if isinstance(counts, dict) else None,
            "sha256": manifest.get("sha256"),
            "verified": bool(manifest.get("verified")),
        }


class Destination(Protocol):
    label: str

    def check_writable(self) -> None: ...
    def put(self, local: Path, name: str) -> None: ...
    def put_manifest(self, name: str, manifest: dict[str, Any]) -> None: ...
    def fetch(self, name: str, local: Path) -> None: ...
    def read_manifest(self, name: str) -> dict[str, Any] | None: ...
    def backups(self) -> list[StoredBackup]: ...
    def delete(self, name: str) -> None: ...


def _parse_manifest(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BackupError(f"manifest {where} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BackupError(f"manifest {where} is not a JSON object")
    return data


class DirectoryDestination:
    """`pvc:/backups/ROOM`: a directory, normally a volume that outlives the room."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"pvc:{path}"

    def check_writable(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise BackupError(
                f"destination {self.label} is not writable: {exc.strerror or exc}"
            ) from exc

    def partial_path(self) -> Path:
        """A hidden name in the destination itself, so that the final rename is atomic."""
        return self.path / f".backup-{os.getpid()}-{time.time_ns()}.partial"

    def _place(self, write: Any, name: str) -> None:
        tmp = self.partial_path()
        try:
            write(tmp)
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / name)
        except OSError as exc:
            raise BackupError(f"cannot write {name} to {self.label}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, local: Path, name: str) -> None:
        if local.parent == self.path:
            # Already in the destination (downloaded there): just rename it into place.
            try:
                os.replace(local, self.path / name)
            except OSError as exc:
                raise BackupError(f"cannot write {name} to {self.label}: {exc}") from exc
            return
        self._place(lambda tmp: shutil.copyfile(local, tmp), name)

    def put_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        text = json.dumps(manifest, indent=2) + "\n"
        self._place(lambda tmp: tmp.write_text(text, encoding="utf-8"), manifest_name(name))

    def fetch(self, name: str, local: Path) -> None:
        source = self.path / name
        try:
            shutil.copyfile(source, local)
        except FileNotFoundError:
            raise BackupError(f"backup {name} is not in {self.label}") from None
        except OSError as exc:
            raise BackupError(f"cannot read {name} from {self.label}: {exc}") from exc

    def read_manifest(self, name: str) -> dict[str, Any] | None:
        path = self.path / manifest_name(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackupError(f"cannot read {path}: {exc}") from exc
        return _parse_manifest(raw, str(path))

    def backups(self) -> list[StoredBackup]:
        try:
            entries = list(self.path.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BackupError(f"cannot list {self.label}: {exc}") from exc
        found = []
        for entry in entries:
            if NAME_RE.match(entry.name) and entry.is_file():
                try:
                    manifest = self.read_manifest(entry.name)
                except BackupError:
                    manifest = None
                found.append(StoredBackup(entry.name, entry.stat().st_size, manifest))
        return sorted(found, key=lambda b: b.name)

    def delete(self, name: str) -> None:
        # The dump first: a manifest without its dump is never listed.
        (self.path / name).unlink(missing_ok=True)
        (self.path / manifest_name(name)).unlink(missing_ok=True)

    def sweep_partials(self) -> list[str]:
        """Remove temporary files that killed jobs left behind (older than an hour)."""
        removed = []
        cutoff = time.time() - STALE_PARTIAL_SECONDS
        with contextlib.suppress(OSError):
            for entry in self.path.glob(".backup-*.partial"):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        entry.unlink()
                        removed.append(entry.name)
        return removed


class S3Destination:
    """`s3://bucket/prefix` on AWS or any S3-compatible store (MinIO, Ceph, moto, ...).

    Credentials come from boto3's usual chain: AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY (a Secret's keys as environment variables), a profile or a
    workload identity."""

    def __init__(
        self, bucket: str, prefix: str, endpoint: str | None = None, region: str | None = None
    ) -> None:
        try:  # imported here: only S3 jobs need it
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise BackupError(
                "the s3 destination needs boto3: install gameroom-operator[s3]"
            ) from exc

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.label = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10),
        )

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _error(self, action: str, exc: Exception) -> BackupError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            detail = f"{err.get('Code', '?')}: {err.get('Message', '') or exc}"
        else:
            detail = str(exc)
        return BackupError(f"{action} {self.label}: {detail}")

    def _errors(self) -> tuple[type[Exception], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return (BotoCoreError, ClientError)

    def check_writable(self) -> None:
        probe = self._key(f".write-probe-{os.getpid()}")
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except self._errors() as exc:
            raise self._error("destination not writable:", exc) from exc

    def put(self, local: Path, name: str) -> None:
        try:
            self.client.upload_file(str(local), self.bucket, self._key(name))
        except self._errors() as exc:
            raise self._error(f"cannot upload {name} to", exc) from exc

    def put_manifest(self, name: str, manifest: dict[str, Any]) -> None:
        body = (json.dumps(manifest, indent=2) + "\n").encode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(manifest_name(name)),
                Body=body,
                ContentType="application/json",
            )
        except self._errors() as exc:
            raise self._error(f"cannot upload the manifest of {name} to", exc) from exc

    def fetch(self, name: str, local: Path) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.download_file(self.bucket, self._key(name), str(local))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise BackupError(f"backup {name} is not in {self.label}") from None
            raise self._error(f"cannot download {name} from", exc) from exc
        except self._errors() as exc:
            raise self._error(f"cannot download {name} from", exc) from exc

    def read_manifest(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        key = self._key(manifest_name(name))
        try:
            raw = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise self._error(f"cannot read the manifest of {name} from", exc) from exc
        except self._errors() as exc:
            raise self._error(f"cannot read the manifest of {name} from", exc) from exc
        return _parse_manifest(raw, f"s3://{self.bucket}/{key}")

    def backups(self) -> list[StoredBackup]:
        start = f"{self.prefix}/" if self.prefix else ""
        sizes: dict[str, int] = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(start) :]
                    if NAME_RE.match(name):
                        sizes[name] = int(obj["Size"])
        except self._errors() as exc:
            raise self._error("cannot list", exc) from exc
        found = []
        for name in sorted(sizes):
            try:
                manifest = self.read_manifest(name)
            except BackupError:
                manifest = None
            found.append(StoredBackup(name, sizes[name], manifest))
        return found

    def delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
            self.client.delete_object(Bucket=self.bucket, Key=self._key(manifest_name(name)))
        except self._errors() as exc:
            raise self._error(f"cannot delete {name} from", exc) from exc


def open_destination(
    spec: str, *, s3_endpoint: str | None = None, s3_region: str | None = None
) -> DirectoryDestination | S3Destination:
    """`pvc:/path`, a plain absolute path, or `s3://bucket[/prefix]`."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        if not bucket:
            raise BackupError(f"destination {spec!r} names no bucket: use s3://BUCKET/PREFIX")
        return S3Destination(bucket, prefix, s3_endpoint, s3_region)
    path = spec.removeprefix("pvc:")
    if not path.startswith("/"):
        raise BackupError(
            f"destination {spec!r} is neither pvc:/ABSOLUTE/PATH nor s3://BUCKET/PREFIX"
        )
    return DirectoryDestination(Path(path))
