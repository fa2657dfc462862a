"""Re-read every file of a release and check it against the manifest."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from lakehouse.export.publish import MANIFEST, release_prefix
from lakehouse.storage import RELEASES_PREFIX, Storage


class ReleaseNotFound(FileNotFoundError):
    pass


class UnsafeReleasePath(ValueError):
    """A version or manifest key that would leave the release folder (``..``, absolute, empty parts)."""


_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def check_version(version: str) -> str:
    """``version`` if it names a folder directly under exports/releases; else UnsafeReleasePath."""
    if not isinstance(version, str) or not _VERSION_RE.match(version) or ".." in version:
        raise UnsafeReleasePath(f"invalid release version {version!r}: use letters, digits, '.', '_', '-' "
                                "(no path separators, no '..')")
    return version


def check_key(key: object) -> str:
    """A manifest file key if it stays inside the release folder; else UnsafeReleasePath."""
    if not isinstance(key, str) or not key or key.startswith(("/", "\\")) or "\\" in key or ":" in key.split("/")[0]:
        raise UnsafeReleasePath(f"manifest key {key!r} leaves the release folder")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts) or any(ch in key for ch in "\x00\n\r"):
        raise UnsafeReleasePath(f"manifest key {key!r} leaves the release folder")
    return key


@dataclass
class VerifyResult:
    version: str
    files_checked: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_manifest(storage: Storage, version: str) -> dict[str, Any]:
    key = f"{release_prefix(check_version(version))}/{MANIFEST}"
    if not storage.exists(key):
        raise ReleaseNotFound(f"release {version} not found under {storage.uri(RELEASES_PREFIX)} (no manifest.json)")
    return json.loads(storage.read_bytes(key))


def list_releases(storage: Storage) -> list[str]:
    return [v for v in storage.list_dirs(RELEASES_PREFIX)
            if not v.startswith(".") and storage.exists(f"{release_prefix(v)}/{MANIFEST}")]


def latest_release(storage: Storage) -> str:
    """The most recently published release (manifest ``created_at``, then version name)."""
    found = list_releases(storage)
    if not found:
        raise ReleaseNotFound(f"no release under {storage.uri(RELEASES_PREFIX)} (build one: lakehouse build)")

    def created(v: str) -> str:
        try:
            return str(load_manifest(storage, v).get("created_at") or "")
        except (ValueError, OSError):
            return ""
    return max(found, key=lambda v: (created(v), v))


def resolve_version(storage: Storage, version: str) -> str:
    """``latest`` -> the newest release; any other version as given."""
    return latest_release(storage) if version.strip().lower() == "latest" else version


def hash_stream(storage: Storage, key: str) -> tuple[str, int, int]:
    """(sha256, bytes, lines) of an object, streamed."""
    h = hashlib.sha256()
    n = lines = 0
    with storage.open_read(key) as f:
        while chunk := f.read(4 * 1024 * 1024):
            h.update(chunk)
            n += len(chunk)
            lines += chunk.count(b"\n")
    return h.hexdigest(), n, lines


def verify_release(storage: Storage, version: str) -> VerifyResult:
    manifest = load_manifest(storage, version)
    res = VerifyResult(version=version)
    prefix = release_prefix(version)
    for entry in manifest.get("files", []):
        try:
            key = check_key(entry.get("key") if isinstance(entry, dict) else None)
        except UnsafeReleasePath as e:
            res.problems.append(f"{e}: not read")
            continue
        try:
            sha, n, lines = hash_stream(storage, f"{prefix}/{key}")
        except FileNotFoundError:
            res.problems.append(f"{key}: missing")
            continue
        res.files_checked += 1
        if n != entry["bytes"]:
            res.problems.append(f"{key}: {n} bytes, manifest says {entry['bytes']}")
        if sha != entry["sha256"]:
            res.problems.append(f"{key}: sha256 mismatch")
        if key.endswith(".jsonl"):
            if lines != entry["records"]:
                res.problems.append(f"{key}: {lines} records, manifest says {entry['records']}")
            if key.startswith("shards/"):
                res.records += lines
    listed = {e["key"] for e in manifest.get("files", [])} | {MANIFEST}
    for key in storage.list(prefix):
        rel = key[len(prefix) + 1:] if key.startswith(prefix + "/") else key
        if rel not in listed:
            res.problems.append(f"{rel}: not in the manifest")
    if res.records != manifest.get("counts", {}).get("records", res.records):
        res.problems.append(f"shards hold {res.records} records, manifest counts {manifest['counts']['records']}")
    return res
