"""Re-read every file of a release and check it against the manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lakehouse.export.publish import MANIFEST, release_prefix
from lakehouse.storage import RELEASES_PREFIX, Storage


class ReleaseNotFound(FileNotFoundError):
    pass


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
    key = f"{release_prefix(version)}/{MANIFEST}"
    if not storage.exists(key):
        raise ReleaseNotFound(f"release {version} not found under {storage.uri(RELEASES_PREFIX)} (no manifest.json)")
    return json.loads(storage.read_bytes(key))


def list_releases(storage: Storage) -> list[str]:
    return [v for v in storage.list_dirs(RELEASES_PREFIX)
            if not v.startswith(".") and storage.exists(f"{release_prefix(v)}/{MANIFEST}")]


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
        key = entry["key"]
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
