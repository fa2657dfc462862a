"""Open a release for training: resolve it, read its curriculum, verify the files it will train on.

Nothing here imports torch or datasets. Verification streams each file through sha256 in fixed-size
chunks (bounded memory, local or S3) and compares bytes, record count and digest with the manifest,
so a tampered or truncated shard is refused before a single training step.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from typing import IO, Any, Iterable

from lakehouse.export.verify import hash_stream
from lakehouse.storage import RELEASES_PREFIX, Storage

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CURRICULUM = "curriculum.json"
FORMAT_PREFIX = "lakehouse-release/"
CHUNK = 1 << 20

PHASE_KINDS = {"A": "pretrain", "B": "sft", "C": "preference"}
PHASE_DIRS = {"A": "phase-A", "C": "phase-C"}


class ReleaseError(ValueError):
    """The release cannot be used: missing, malformed, or not what its manifest says."""


class ReleaseIntegrityError(ReleaseError):
    """A file's bytes, record count or sha256 differ from the manifest."""


@dataclass(frozen=True)
class FileEntry:
    key: str
    bytes: int
    sha256: str
    records: int | None = None


@dataclass(frozen=True)
class FamilySpec:
    family: str
    weight: float
    files: tuple[str, ...]  # train split keys, relative to the release folder


@dataclass(frozen=True)
class StageSpec:
    """One trainable unit of the curriculum: phase A, one SFT stage, or phase C."""

    phase: str
    kind: str
    stage: int | None
    name: str
    weight: float
    families: tuple[FamilySpec, ...]

    @property
    def dirname(self) -> str:
        return f"stage-{self.stage}" if self.phase == "B" else PHASE_DIRS[self.phase]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(k for f in self.families for k in f.files)


def open_lines(storage: Storage, uri: str) -> IO[bytes]:
    """A buffered binary reader (S3 bodies arrive unbuffered; line iteration needs a buffer)."""
    f = storage.open_read(uri)
    if isinstance(f, io.RawIOBase):
        return io.BufferedReader(f, buffer_size=CHUNK)  # type: ignore[arg-type]
    return f


def _is_uri(spec: str) -> bool:
    return spec.startswith(("s3://", "s3a://", "file://", "/", ".", "~")) or os.sep in spec or "/" in spec


def resolve_release_uri(spec: str, storage: Storage) -> str:
    """A version (``v2026-11-22``) under the lakehouse root, or a local path / s3:// URI as given."""
    spec = spec.strip()
    if not spec:
        raise ReleaseError("--release is empty: give a version (e.g. v2026-11-22) or a release folder URI")
    if spec.startswith("s3a://"):
        spec = "s3://" + spec[len("s3a://"):]
    if spec.startswith("file://"):
        spec = spec[len("file://"):]
    if _is_uri(spec):
        return spec.rstrip("/") if spec.startswith("s3://") else os.path.abspath(os.path.expanduser(spec))
    if spec.lower() == "latest":
        from lakehouse.export.verify import ReleaseNotFound, latest_release

        try:
            spec = latest_release(storage)
        except ReleaseNotFound as e:
            raise ReleaseError(str(e)) from e
    return storage.uri(RELEASES_PREFIX, spec)


@dataclass
class Release:
    uri: str
    storage: Storage
    manifest: dict[str, Any]
    curriculum: dict[str, Any]
    manifest_sha256: str

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", ""))

    @property
    def content_sha256(self) -> str:
        """sha256 over the sorted (key, sha256) file list: equal for byte-identical rebuilds of a release,
        whose manifests differ only in ``created_at`` and ``git_commit``."""
        listing = "".join(f"{e.key}\t{e.sha256}\n" for e in sorted(self.entries().values(), key=lambda e: e.key))
        return hashlib.sha256(listing.encode()).hexdigest()

    def file_uri(self, key: str) -> str:
        return f"{self.uri}/{key}"

    def entries(self) -> dict[str, FileEntry]:
        return {e.key: e for e in _manifest_entries(self.manifest)}

    def stages(self, phase: str) -> list[StageSpec]:
        """The phase's stages from curriculum.json (SFT stages sorted by stage number)."""
        return curriculum_stages(self.curriculum, phase)


def _manifest_entries(manifest: dict[str, Any]) -> list[FileEntry]:
    from lakehouse.export.verify import UnsafeReleasePath, check_key

    out = []
    for f in manifest.get("files") or []:
        try:
            check_key(f.get("key") if isinstance(f, dict) else None)
        except UnsafeReleasePath as e:
            raise ReleaseError(str(e)) from e
        try:
            out.append(FileEntry(key=str(f["key"]), bytes=int(f["bytes"]), sha256=str(f["sha256"]).lower(),
                                 records=int(f["records"]) if f.get("records") is not None else None))
        except (KeyError, TypeError, ValueError) as e:
            raise ReleaseError(f"manifest.json has a malformed files[] entry ({e.__class__.__name__}: {e})") from e
    return out


def curriculum_stages(curriculum: dict[str, Any], phase: str) -> list[StageSpec]:
    kind = PHASE_KINDS[phase]
    specs: list[StageSpec] = []
    for ph in curriculum.get("phases") or []:
        if str(ph.get("phase")) != phase:
            continue
        for st in ph.get("stages") or []:
            fams = tuple(
                FamilySpec(family=str(f["family"]), weight=float(f.get("weight", 1.0)),
                           files=tuple((f.get("files") or {}).get("train") or []))
                for f in st.get("families") or []
            )
            stage = st.get("stage")
            if phase == "B" and stage is None:
                raise ReleaseError(f"curriculum.json: SFT stage {st.get('name')!r} has no stage number")
            specs.append(StageSpec(phase=phase, kind=str(ph.get("kind") or kind), stage=int(stage) if stage is not None else None,
                                   name=str(st.get("name") or phase), weight=float(st.get("weight", 1.0)), families=fams))
    specs.sort(key=lambda s: (s.stage if s.stage is not None else -1))
    return specs


def open_release(spec: str, storage: Storage | None = None) -> Release:
    """Resolve and read a release; refuse it without manifest.json; verify curriculum.json before parsing it."""
    storage = storage or Storage.from_env()
    uri = resolve_release_uri(spec, storage)
    murl = f"{uri}/{MANIFEST}"
    if not storage.exists(murl):
        raise ReleaseError(f"no {MANIFEST} at {uri}: not a release (or its export did not finish); refusing to train")
    raw = storage.read_bytes(murl)
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ReleaseError(f"{murl} is not valid JSON: {e}") from e
    fmt = str(manifest.get("format", ""))
    if not fmt.startswith(FORMAT_PREFIX):
        raise ReleaseError(f"{murl}: unknown format {fmt!r} (expected {FORMAT_PREFIX}N)")
    rel = Release(uri=uri, storage=storage, manifest=manifest, curriculum={},
                  manifest_sha256=hashlib.sha256(raw).hexdigest())
    verify_files(rel, [CURRICULUM])
    try:
        rel.curriculum = json.loads(storage.read_bytes(rel.file_uri(CURRICULUM)))
    except json.JSONDecodeError as e:
        raise ReleaseError(f"{rel.file_uri(CURRICULUM)} is not valid JSON: {e}") from e
    return rel


def verify_file(release: Release, entry: FileEntry) -> None:
    uri = release.file_uri(entry.key)
    try:
        digest, n, lines = hash_stream(release.storage, uri)
    except FileNotFoundError as e:
        raise ReleaseIntegrityError(f"{entry.key}: listed in the manifest but missing at {uri}") from e
    problems = []
    if n != entry.bytes:
        problems.append(f"bytes {n} != manifest {entry.bytes}")
    if digest != entry.sha256:
        problems.append(f"sha256 {digest} != manifest {entry.sha256}")
    if entry.records is not None and entry.key.endswith(".jsonl") and lines != entry.records:
        problems.append(f"records {lines} != manifest {entry.records}")
    if problems:
        raise ReleaseIntegrityError(f"{entry.key} does not match manifest.json ({'; '.join(problems)}) at {uri}: "
                                    "refusing to train on a modified release")


def verify_files(release: Release, keys: Iterable[str]) -> list[FileEntry]:
    """Verify each key (in order, each once) against the manifest; return the entries."""
    entries = release.entries()
    out: list[FileEntry] = []
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        entry = entries.get(key)
        if entry is None:
            raise ReleaseIntegrityError(f"{key} is used by the curriculum but not listed in manifest.json: refusing to train")
        verify_file(release, entry)
        out.append(entry)
    log.info("verified %d release files (%d bytes) against manifest.json", len(out), sum(e.bytes for e in out))
    return out
