"""Read a published release for review: resolve ``latest``, list its record files, stream records.

Only the manifest is trusted for the layout: every ``*.jsonl`` file it lists, except the compiled
all-in-one file(s), holds records, whatever folders the exporter uses (``shards/<split>/<family>/``
or per-kind folders). A record that appears in several files (the same record_id) is read once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

from lakehouse.export.publish import release_prefix
from lakehouse.export.verify import ReleaseNotFound, list_releases, load_manifest
from lakehouse.storage import Storage

REVIEWS_PREFIX = "reviews"
BIAS_REPORT_KEY = "reports/bias.json"


class ReviewError(ValueError):
    """A user-facing problem with a review command: one line, no traceback."""


def resolve_version(storage: Storage, version: str) -> str:
    version = (version or "").strip()
    if not version:
        raise ReviewError("give a release version (e.g. v2026-11-22) or latest")
    if version == "latest":
        found = sorted(list_releases(storage))
        if not found:
            raise ReviewError(f"no published release under {storage.root}")
        return found[-1]
    if "/" in version or version.startswith("."):
        raise ReviewError(f"invalid release version {version!r}")
    return version


def manifest_of(storage: Storage, version: str) -> tuple[dict[str, Any], str]:
    """(manifest, sha256 of its bytes)."""
    key = f"{release_prefix(version)}/manifest.json"
    try:
        raw = storage.read_bytes(key) if storage.exists(key) else None
    except FileNotFoundError:
        raw = None
    if raw is None:
        raise ReviewError(f"release {version} not found under {storage.root} (no manifest.json)")
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


def content_sha256(manifest: dict[str, Any]) -> str:
    """sha256 over the sorted (key, sha256) file list: equal for byte-identical rebuilds."""
    files = sorted((str(f["key"]), str(f["sha256"])) for f in manifest.get("files") or [])
    return hashlib.sha256("".join(f"{k}\t{s}\n" for k, s in files).encode()).hexdigest()


def record_files(manifest: dict[str, Any]) -> list[str]:
    """Keys of the files holding records (JSON Lines, not the compiled all-in-one output)."""
    return sorted(str(f["key"]) for f in manifest.get("files") or []
                  if str(f["key"]).endswith(".jsonl") and not str(f["key"]).startswith("compiled/"))


def iter_release_records(storage: Storage, version: str, manifest: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every record of a release once (parsed JSON lines, in manifest file order)."""
    if manifest is None:
        try:
            manifest = load_manifest(storage, version)
        except ReleaseNotFound as e:
            raise ReviewError(str(e)) from e
    seen: set[str] = set()
    prefix = release_prefix(version)
    for key in record_files(manifest):
        with storage.open_read(f"{prefix}/{key}") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                rid = str((rec.get("metadata") or {}).get("record_id") or "")
                if rid:
                    if rid in seen:
                        continue
                    seen.add(rid)
                yield rec


def review_key(version: str, name: str) -> str:
    return f"{REVIEWS_PREFIX}/{version}/{name}"


def find_bias_report(storage: Storage, version: str, manifest: dict[str, Any] | None = None) -> tuple[str, bytes] | None:
    """(key, bytes) of a release's bias report: ``reports/bias.json`` inside the release (any folder
    the manifest lists it under), else ``reviews/<version>/bias.json`` written by `lakehouse qa bias`."""
    candidates = []
    if manifest is not None:
        candidates += [str(f["key"]) for f in manifest.get("files") or [] if str(f["key"]).endswith("bias.json")]
    candidates.append(BIAS_REPORT_KEY)
    for rel in candidates:
        key = f"{release_prefix(version)}/{rel}"
        if storage.exists(key):
            return key, storage.read_bytes(key)
    key = review_key(version, "bias.json")
    if storage.exists(key):
        return key, storage.read_bytes(key)
    return None
