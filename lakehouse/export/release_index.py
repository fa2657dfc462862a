"""catalog/release_records (which record is in which release) kept derivable and re-derived.

The index is secondary to the release folders: every row (version, record_id, content_hash, split,
shard_key) is in the release's shards (``metadata`` of each JSON line, the shard's key). A publish
that dies after the folder is in place but before the index is written must not leave the index
wrong forever, so every publish run converges it:

- the version being published: the index rows are compared with the release relation (count and
  an order-free fingerprint) and rewritten when they differ, also when the release is "unchanged";
- every other published version: its indexed row count is compared with the manifest's record
  count, and its rows are rebuilt from its shards when they differ.

The same module cleans stale staging folders (``.<version>.tmp-…``, ``<version>.old-…``) left by a
killed publish next to the release folders.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
from typing import TYPE_CHECKING, Any

from lakehouse.storage import CATALOG_PREFIX, Storage

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

log = logging.getLogger(__name__)

INDEX_KEY = f"{CATALOG_PREFIX}/release_records"
_FP_SQL = "select count(*) as n, coalesce(bit_xor(hash(record_id, content_hash, split, shard_key)), 0) as h from {t}"


def _q(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _index_rows(storage: Storage, version: str | None = None) -> "pa.Table | None":
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError
    import pyarrow.dataset as ds

    try:
        dt = DeltaTable(storage.uri(INDEX_KEY), storage_options=storage.delta_storage_options())
    except TableNotFoundError:
        return None
    flt = ds.field("version") == version if version is not None else None
    cols = ["version", "record_id", "content_hash", "split", "shard_key"] if version is not None else ["version"]
    return dt.to_pyarrow_dataset().to_table(columns=cols, filter=flt)


def _fingerprint_arrow(table: "pa.Table | None") -> tuple[int, int]:
    import duckdb

    if table is None or table.num_rows == 0:
        return 0, 0
    con = duckdb.connect()
    try:
        con.register("t", table)
        n, h = con.execute(_FP_SQL.format(t="t")).fetchone()
        return int(n), int(h)
    finally:
        con.close()


def _rel_rows(rel: "duckdb.DuckDBPyRelation", version: str) -> "duckdb.DuckDBPyRelation":
    return rel.query("r", f"select {_q(version)}::varchar as version, record_id, content_hash, split, shard_key "
                          "from r order by record_id")


def write_index(storage: Storage, version: str, reader: Any) -> None:
    """Replace the index rows of ``version`` (one Delta commit)."""
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import TableNotFoundError

    uri = storage.uri(INDEX_KEY)
    opts = storage.delta_storage_options()
    try:
        DeltaTable(uri, storage_options=opts)
        exists = True
    except TableNotFoundError:
        exists = False
    if exists:
        write_deltalake(uri, reader, mode="overwrite", predicate=f"version = {_q(version)}", storage_options=opts)
    else:
        write_deltalake(uri, reader, mode="append", storage_options=opts)


def rows_from_release(storage: Storage, version: str, manifest: dict[str, Any]) -> "pa.Table":
    """The index rows of a published release, read back from its shards."""
    import orjson
    import pyarrow as pa

    from lakehouse.export.publish import release_prefix
    from lakehouse.export.verify import check_key

    cols: dict[str, list] = {"version": [], "record_id": [], "content_hash": [], "split": [], "shard_key": []}
    for entry in manifest.get("files", []):
        key = check_key(entry.get("key"))
        if not (key.startswith("shards/") and key.endswith(".jsonl")):
            continue
        with storage.open_read(f"{release_prefix(version)}/{key}") as f:
            for line in f:
                if not line.strip():
                    continue
                meta = orjson.loads(line).get("metadata") or {}
                cols["version"].append(version)
                cols["record_id"].append(meta.get("record_id"))
                cols["content_hash"].append(meta.get("content_hash"))
                cols["split"].append(meta.get("split"))
                cols["shard_key"].append(key)
    t = pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()})
    return t.sort_by("record_id")


def converge_release_index(storage: Storage, rel: "duckdb.DuckDBPyRelation", version: str) -> list[str]:
    """Make catalog/release_records agree with the releases; returns the versions (re)written."""
    from lakehouse.export.verify import list_releases, load_manifest

    written: list[str] = []
    want = rel.query("r", _FP_SQL.format(t="r")).fetchone()
    have = _fingerprint_arrow(_index_rows(storage, version))
    if (int(want[0]), int(want[1])) != have:
        write_index(storage, version, _rel_rows(rel, version).fetch_record_batch(50_000))
        written.append(version)
    counts: dict[str, int] = {}
    everything = _index_rows(storage)
    if everything is not None:
        for v in everything.column("version").to_pylist():
            counts[v] = counts.get(v, 0) + 1
    for other in list_releases(storage):
        if other == version:
            continue
        manifest = load_manifest(storage, other)
        expected = int((manifest.get("counts") or {}).get("records", 0))
        if counts.get(other, 0) != expected:
            write_index(storage, other, rows_from_release(storage, other, manifest))
            written.append(other)
    if written:
        log.info("catalog/release_records: rows of %s written", ", ".join(written))
    return written


# -- stale staging folders -------------------------------------------------------------------------
_STAGING_RE = re.compile(r"^\.(?P<version>.+)\.tmp-(?:(?P<host>[A-Za-z0-9.-]+)-(?P<pid>\d+)-)?[A-Za-z0-9_]+$")
_OLD_RE = re.compile(r"^(?P<version>.+)\.old-(?P<pid>\d+)$")
STALE_AFTER_SECONDS = 24 * 3600   # folders of another host: left alone unless this old


def staging_prefix(version: str) -> str:
    """Name prefix of a local staging folder: it names this host and process, so a later run can
    tell a folder of a dead process from one still being written."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "host"
    return f".{version}.tmp-{host}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(parent: str) -> list[str]:
    """Remove staging (``.v.tmp-…``) and replaced (``v.old-<pid>``) folders under ``parent`` whose
    process is gone (this host), that an older version left (no pid in the name), or older than a day."""
    if not os.path.isdir(parent):
        return []
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "host"
    removed = []
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        m = _STAGING_RE.match(name)
        o = _OLD_RE.match(name) if not m else None
        if not (m or o) or not os.path.isdir(path):
            continue
        pid = int((m or o).group("pid")) if (m or o).group("pid") else None   # type: ignore[union-attr]
        same_host = o is not None or (m is not None and m.group("host") == host)
        try:
            age = time.time() - os.path.getmtime(path)
        except OSError:
            continue
        stale = (pid is None) or (same_host and not _pid_alive(pid)) or age > STALE_AFTER_SECONDS
        if stale and pid != os.getpid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    if removed:
        log.warning("removed %d stale release staging folder(s) under %s", len(removed), parent)
    return removed
