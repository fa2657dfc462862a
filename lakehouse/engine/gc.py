"""Cache status and garbage collection.

``gc`` keeps, in each ``cache/<stage>/`` table, only the rows of the current fingerprint whose
key the last build used (``cache/_reachable/<stage>/<consumer>``, written by every build): rows
of an old config or version, and rows no landed record reaches any more (a source re-landed,
content changed), are removed, and the freed files are vacuumed. Without a record of the last
build for a stage, only other fingerprints are removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from lakehouse.engine.cache import CACHE_PREFIX, REACHABLE_PREFIX

if TYPE_CHECKING:
    from lakehouse.storage import Storage


def current_fingerprints() -> dict[str, Callable[[], str]]:
    """stage -> the fingerprint a build would use now."""
    from lakehouse.engine.stages import bias_fingerprint, minhash_fingerprint, pii_fingerprint, quality_fingerprint

    return {"pii_spans": pii_fingerprint, "pii_residual_keys": pii_fingerprint, "quality_scores": quality_fingerprint,
            "minhash": minhash_fingerprint, "bias_flags": bias_fingerprint, "source_keys": pii_fingerprint}


@dataclass
class StageStatus:
    stage: str
    rows: int
    files: int
    bytes: int
    fingerprints: dict[str, int]
    current: str | None


def _dir_bytes(storage: "Storage", prefix: str) -> tuple[int, int]:
    files = nbytes = 0
    for key in storage.list(prefix):
        if "/_delta_log/" in f"/{key}":
            continue
        files += 1
        nbytes += storage.size(key)
    return files, nbytes


def _stages(storage: "Storage") -> list[str]:
    names = [d.rstrip("/").rsplit("/", 1)[-1] for d in storage.list_dirs(CACHE_PREFIX)]
    return sorted(n for n in names if not n.startswith("_"))


def status(storage: "Storage") -> list[StageStatus]:
    import duckdb  # noqa: F401

    from deltalake import DeltaTable

    from lakehouse import duck

    out = []
    fps = current_fingerprints()
    con = duck.connect(storage.settings)
    for stage in _stages(storage):
        uri = storage.uri(CACHE_PREFIX, stage)
        if not DeltaTable.is_deltatable(uri, storage_options=storage.delta_storage_options()):
            continue
        rows = dict(con.execute(f"select fingerprint, count(*) from delta_scan('{uri}') group by 1").fetchall())
        files, nbytes = _dir_bytes(storage, f"{CACHE_PREFIX}/{stage}")
        current = None
        if stage in fps:
            try:
                current = fps[stage]()
            except Exception:  # a stage whose config cannot load (e.g. a model not installed)
                current = None
        out.append(StageStatus(stage, sum(rows.values()), files, nbytes, rows, current))
    con.close()
    return out


@dataclass
class GcResult:
    stage: str
    rows_before: int
    rows_after: int
    bytes_before: int
    bytes_after: int


def gc(storage: "Storage", dry_run: bool = False) -> list[GcResult]:
    from deltalake import DeltaTable, write_deltalake

    from lakehouse import duck

    opts = storage.delta_storage_options()
    con = duck.connect(storage.settings)
    results = []
    for st in status(storage):
        uri = storage.uri(CACHE_PREFIX, st.stage)
        reach_uris = [storage.uri(REACHABLE_PREFIX, st.stage, c.rstrip("/").rsplit("/", 1)[-1])
                      for c in storage.list_dirs(f"{REACHABLE_PREFIX}/{st.stage}")]
        reach_uris = [u for u in reach_uris if DeltaTable.is_deltatable(u, storage_options=opts)]
        keep_where = "false" if st.current is None else f"fingerprint = '{st.current}'"
        if st.current is not None and reach_uris:
            union = " union ".join(f"select key from delta_scan('{u}') where fingerprint = '{st.current}'" for u in reach_uris)
            keep_where += f" and key in ({union})"
        kept = con.execute(f"select count(*) from delta_scan('{uri}') where {keep_where}").fetchone()[0]
        if kept == st.rows or dry_run:
            results.append(GcResult(st.stage, st.rows, kept, st.bytes, st.bytes))
            continue
        tbl = con.execute(f"select * from delta_scan('{uri}') where {keep_where} "
                          "qualify row_number() over (partition by fingerprint, key) = 1").to_arrow_table()
        write_deltalake(uri, tbl, mode="overwrite", partition_by=["fingerprint"], storage_options=opts)
        dt = DeltaTable(uri, storage_options=opts)
        dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        _, after = _dir_bytes(storage, f"{CACHE_PREFIX}/{st.stage}")
        results.append(GcResult(st.stage, st.rows, kept, st.bytes, after))
    con.close()
    return results
