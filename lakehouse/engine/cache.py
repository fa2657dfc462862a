"""Content-addressed result caches: Delta tables ``<root>/cache/<stage>/``.

A row is ``(fingerprint, key, result columns...)``:

- ``key`` is what determines the result (a message's sha256, a record's content hash);
- ``fingerprint`` is the hash of everything else the result depends on: the stage's version and
  the configuration it reads (privacy.yml for PII spans, the scorer version and quality.yml for
  scores). The table is partitioned by it and every read filters on it, so a result is never read
  across configurations, and changing a config or a version recomputes exactly the results of
  the stages that depend on it.

Results hold spans, flags, scores and signatures: never message text. Appends are Delta commits
of at most ``commit_rows`` rows, so a build killed mid-stage leaves every committed chunk usable
and nothing half-written (a chunk is in the log or it is not). Two builds that race may store the
same key twice; results are deterministic, so readers keep any one of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from lakehouse.storage import Storage

log = logging.getLogger("lakehouse.engine")

CACHE_PREFIX = "cache"
COMMIT_ROWS = 50_000  # rows per cache commit (and at least every COMMIT_SECONDS)
COMMIT_SECONDS = 60.0


def cache_storage(root: str | None = None) -> "Storage":
    """Where the caches live: ``LAKEHOUSE_CACHE_ROOT`` when set (a fast local disk, or a bucket
    shared by several lakehouses: entries are content-addressed, so sharing is safe), else the
    lakehouse root. Either way under ``cache/``."""
    import os

    from lakehouse.storage import Storage

    return Storage.from_env(root or os.environ.get("LAKEHOUSE_CACHE_ROOT") or None)


def fingerprint(*parts: Any) -> str:
    """A short stable hash of versions and config hashes (JSON of the parts)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _sql_str(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


@dataclass
class ResultCache:
    """One stage's cache table under a lakehouse root."""

    storage: "Storage"
    stage: str
    fp: str
    commit_rows: int = 0
    commit_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.commit_rows = self.commit_rows or COMMIT_ROWS
        self.commit_seconds = self.commit_seconds or COMMIT_SECONDS

    @property
    def uri(self) -> str:
        return self.storage.uri(CACHE_PREFIX, self.stage)

    def exists(self) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.uri, storage_options=self.storage.delta_storage_options())

    def scan_sql(self) -> str | None:
        """SQL over this fingerprint's rows (one per key), or None when the table doesn't exist."""
        if not self.exists():
            return None
        return (f"select * exclude (fingerprint) from delta_scan({_sql_str(self.uri)}) "
                f"where fingerprint = {_sql_str(self.fp)} qualify row_number() over (partition by key) = 1")

    def append(self, table: "pa.Table") -> None:
        """Commit ``table`` (key + result columns) under this fingerprint."""
        import pyarrow as pa
        from deltalake import write_deltalake

        if table.num_rows == 0:
            return
        table = table.append_column("fingerprint", pa.array([self.fp] * table.num_rows, pa.string()))
        write_deltalake(self.uri, table, mode="append", partition_by=["fingerprint"],
                        storage_options=self.storage.delta_storage_options())

    def append_stream(self, batches: Iterable["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        """Commit batches in chunks as they stream by (and yield them on)."""
        import pyarrow as pa

        buf: list[pa.RecordBatch] = []
        rows, last = 0, time.monotonic()
        for b in batches:
            buf.append(b)
            rows += b.num_rows
            yield b
            if rows >= self.commit_rows or (buf and time.monotonic() - last >= self.commit_seconds):
                self.append(pa.Table.from_batches(buf))
                buf, rows, last = [], 0, time.monotonic()
        if buf:
            self.append(pa.Table.from_batches(buf))


REACHABLE_PREFIX = f"{CACHE_PREFIX}/_reachable"


def record_reachable(con: "duckdb.DuckDBPyConnection", storage: "Storage", stage: str, consumer: str, fp: str,
                     keys_sql: str) -> None:
    """Note the keys of ``stage`` this build used (``consumer`` names the use): what
    ``lakehouse cache gc`` keeps. Keys only; overwritten by the next build."""
    from deltalake import write_deltalake

    tbl = con.cursor().execute(f"select distinct key, {_sql_str(fp)} as fingerprint from ({keys_sql})").to_arrow_table()
    write_deltalake(storage.uri(REACHABLE_PREFIX, stage, consumer), tbl, mode="overwrite", schema_mode="overwrite",
                    storage_options=storage.delta_storage_options())


def cached_map(con: "duckdb.DuckDBPyConnection", *, storage: "Storage", stage: str, fp: str, inputs_sql: str,
               fn_path: str, kwargs: dict[str, Any] | None = None, result_columns: list[str],
               settings: Any = None, batch_rows: int | None = None, consumer: str | None = None) -> str:
    """Make sure the cache holds a result for every key of ``inputs_sql``; return SQL giving
    ``key`` + ``result_columns`` for exactly those keys.

    ``inputs_sql`` yields one row per distinct ``key`` with the columns ``fn_path`` reads. Only the
    keys the cache lacks are computed (on the engine) and committed in chunks.
    """
    from lakehouse.engine.runner import map_keeping

    cache = ResultCache(storage, stage, fp)
    # the inputs (an unnest + group by over every record, for PII) are computed once and reused
    # for the counts, the anti-join, the reachable keys and the final semi-join
    staged = f"__lh_inputs_{stage}_{consumer or stage}"
    stage_con = con.cursor()
    stage_con.execute(f"create or replace table {staged} as {inputs_sql}")
    stage_con.close()
    inputs_sql = f"select * from {staged}"
    cached = cache.scan_sql()
    missing_sql = (f"select i.* from ({inputs_sql}) i anti join ({cached}) c using (key)" if cached
                   else inputs_sql)
    reader_con = con.cursor()
    n_missing = reader_con.execute(f"select count(*) from ({missing_sql})").fetchone()[0]
    n_total = reader_con.execute(f"select count(*) from ({inputs_sql})").fetchone()[0]
    log.info("cache %s fp=%s: %d keys, %d cached, %d to compute", stage, fp, n_total, n_total - n_missing, n_missing)
    if n_missing:
        import pyarrow as pa

        reader = reader_con.execute(f"select * from ({missing_sql}) order by key").to_arrow_reader(batch_rows or 4096)

        def keyed() -> Iterator[pa.RecordBatch]:
            for kept, out in map_keeping(fn_path, reader, ["key"], kwargs=kwargs, stage=stage, total=n_missing,
                                         settings=settings, batch_rows=batch_rows):
                yield pa.RecordBatch.from_arrays([kept.column(0), *[out.column(c) for c in result_columns]],
                                                 names=["key", *result_columns])

        for _ in cache.append_stream(keyed()):
            pass
    reader_con.close()
    record_reachable(con, storage, stage, consumer or stage, fp, inputs_sql)
    cached = cache.scan_sql()
    if cached is None:  # nothing to compute and nothing cached: an empty input
        return f"select key, {', '.join('null as ' + c for c in result_columns)} from ({inputs_sql}) where false"
    return f"select c.key, {', '.join('c.' + c for c in result_columns)} from ({cached}) c semi join ({inputs_sql}) i using (key)"
