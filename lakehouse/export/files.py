"""Hashing writers: files written once, measured while written."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import IO


@dataclass
class FileEntry:
    key: str
    bytes: int
    records: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "bytes": self.bytes, "records": self.records, "sha256": self.sha256}


class HashingWriter:
    """Append-only binary file that tracks sha256, bytes and line count."""

    def __init__(self, path: str, key: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.key = path, key
        self._f: IO[bytes] = open(path, "wb", buffering=1024 * 1024)
        self._h = hashlib.sha256()
        self.bytes = 0
        self.records = 0

    def write_line(self, data: bytes) -> None:
        self._f.write(data)
        self._f.write(b"\n")
        self._h.update(data)
        self._h.update(b"\n")
        self.bytes += len(data) + 1
        self.records += 1

    def write_all(self, data: bytes, records: int = 0) -> None:
        self._f.write(data)
        self._h.update(data)
        self.bytes += len(data)
        self.records += records

    def close(self) -> FileEntry:
        self._f.close()
        return FileEntry(self.key, self.bytes, self.records, self._h.hexdigest())


def hash_file(path: str, key: str, records: int = 0) -> FileEntry:
    """A FileEntry for a file another library wrote (Parquet, HTML)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            h.update(chunk)
            n += len(chunk)
    return FileEntry(key, n, records, h.hexdigest())


def write_bytes_entry(staging: str, key: str, data: bytes, records: int = 0) -> FileEntry:
    w = HashingWriter(os.path.join(staging, key), key)
    w.write_all(data, records=records)
    return w.close()


# --- Parquet beside JSONL ---------------------------------------------------------------------------
# One Arrow schema per config (sft, kto, preference, pretrain): the union of what every JSONL shard of
# that config holds, so records whose metadata differ (an extra key on some rows) share one schema.
# Each Parquet file holds exactly the rows of its JSONL shard, in the same order.

# a field that is null in every record of a config still needs a type: these names have a known one
NULL_FIELD_TYPES = {"stage": "Int64", "row_number": "Int64", "label": "Boolean"}


def parquet_key(jsonl_key: str) -> str:
    """shards/<config>/<split>/<family>/part-N.jsonl -> parquet/<config>/<split>/<family>/part-N.parquet"""
    assert jsonl_key.startswith("shards/") and jsonl_key.endswith(".jsonl"), jsonl_key
    return "parquet/" + jsonl_key[len("shards/"):-len(".jsonl")] + ".parquet"


def _fill_nulls(dtype: "object", name: str = "") -> "object":
    import polars as pl

    if dtype == pl.Null:
        return getattr(pl, NULL_FIELD_TYPES.get(name, "String"))
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _fill_nulls(f.dtype, f.name) for f in dtype.fields})
    if isinstance(dtype, pl.List):
        return pl.List(_fill_nulls(dtype.inner, name))
    return dtype


def _kind(dtype: "object") -> str:
    import polars as pl

    if dtype == pl.Null:
        return ""
    if isinstance(dtype, pl.Struct):
        return "struct"
    if isinstance(dtype, pl.List):
        return "list"
    return "scalar"


def _walk(dtype: "object", path: tuple[str, ...], out: dict[tuple[str, ...], set[str]]) -> None:
    import polars as pl

    k = _kind(dtype)
    if k:
        out.setdefault(path, set()).add(k)
    if isinstance(dtype, pl.Struct):
        for f in dtype.fields:
            _walk(f.dtype, path + (f.name,), out)


def _as_string(dtype: "object", path: tuple[str, ...], conflicts: set[tuple[str, ...]]) -> "object":
    import polars as pl

    if path in conflicts:
        return pl.String   # the value as JSON text: e.g. a number in some records, an object in others
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _as_string(f.dtype, path + (f.name,), conflicts) for f in dtype.fields})
    return dtype


def unified_schema(paths: list[str]) -> "object":
    """The polars schema every file fits: struct fields merged by name, nulls widened, and a field whose
    shape differs between records (a number here, an object there) kept as JSON text. Deterministic for
    a given ordered list of files."""
    import polars as pl

    frames = [pl.read_ndjson(p, infer_schema_length=None).head(0) for p in paths if os.path.getsize(p)]
    if not frames:
        return pl.Schema({})
    kinds: dict[tuple[str, ...], set[str]] = {}
    for f in frames:
        for name, dt in f.schema.items():
            _walk(dt, (name,), kinds)
    conflicts = {p for p, ks in kinds.items() if len(ks) > 1}
    if conflicts:
        frames = [pl.DataFrame(schema={n: _as_string(dt, (n,), conflicts) for n, dt in f.schema.items()}) for f in frames]
    merged = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    return pl.Schema({name: _fill_nulls(_as_string(dt, (name,), conflicts), name) for name, dt in merged.schema.items()})


def write_parquet_mirrors(staging: str, jsonl_keys: list[str]) -> tuple[list[FileEntry], "object"]:
    """Write a Parquet file beside each JSONL shard of one config (same rows, same order)."""
    import polars as pl

    schema = unified_schema([os.path.join(staging, k) for k in jsonl_keys])
    entries = []
    for key in jsonl_keys:
        src = os.path.join(staging, key)
        df = pl.read_ndjson(src, schema=schema) if os.path.getsize(src) else pl.DataFrame(schema=schema)
        entries.append(write_parquet(staging, parquet_key(key), df))
    return entries, schema


def write_parquet(staging: str, key: str, df: "object") -> FileEntry:
    path = os.path.join(staging, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    df.write_parquet(path, compression="zstd", statistics=True)  # type: ignore[attr-defined]
    return hash_file(path, key, records=df.height)  # type: ignore[attr-defined]
