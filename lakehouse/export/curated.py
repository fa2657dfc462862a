"""The curated Delta tables that ``lakehouse sql`` reads, written from dbt ``external`` models.

The models under models/release/marts/curated/ are materialized ``external``: dbt-duckdb copies the
model to a Parquet file in the build's private folder (beside the build DuckDB, see the macro
``curated_staging_location``), then calls the ``store`` hook of the ``lakehouse_dbt`` plugin, which
calls :func:`store_staged` here. The file is streamed in record batches into the Delta table named
by the model's ``delta_key`` (overwrite, schema overwrite), then removed: the quarantine table holds
original text, and its staged copy never outlives the build step or leaves the build's own folder.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Iterator

from lakehouse.faults import kill_point
from lakehouse.storage import CURATED_PREFIX, QUARANTINE_PREFIX, Storage

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

BATCH_ROWS = 2_000
# Delta data files of about this size: delta-rs buffers a file before it flushes it, so this bounds
# the writer's memory (measured: ~0.9 GB peak for 0.3 GB or 1 GB of 4 KB rows; 100 MB files grew with the table)
TARGET_FILE_BYTES = 32 * 1024 * 1024
# the only prefixes a curated model may write (the views of lakehouse/query/views.py read them)
CURATED_ROOTS = (CURATED_PREFIX, QUARANTINE_PREFIX)


def check_key(key: str) -> str:
    """``curated/<name>`` or ``quarantine/<name>``; anything else is a configuration error."""
    parts = (key or "").strip("/").split("/")
    if len(parts) != 2 or parts[0] not in CURATED_ROOTS or not parts[1] or parts[1] in (".", ".."):
        raise ValueError(f"delta_key {key!r}: a curated model writes curated/<name> or quarantine/<name>")
    return "/".join(parts)


def _is_placeholder(dataset: "pa.dataset.Dataset", rows: int) -> bool:
    """dbt-duckdb's external materialization writes one all-null row for an empty model (its view
    filters it out): such a file stands for an empty table."""
    if rows != 1:
        return False
    row = dataset.to_table().to_pylist()[0]
    return all(v is None for v in row.values())


def _compact(batch: "pa.RecordBatch") -> "pa.RecordBatch":
    """The batch in fresh buffers. The Parquet reader hands out batches whose nested columns
    (a struct holding a list, e.g. ``quality.crisis_categories``) carry offsets into larger buffers,
    and delta-rs's arrow (arrow-data 59) panics on them across the C interface ("end <=
    self.len()", seen on a 20k-conversation build); ``take`` rebuilds every buffer from offset 0."""
    import pyarrow as pa

    return batch.take(pa.array(range(batch.num_rows), pa.int64()))


def store_staged(storage: Storage, staged_path: str, key: str, *, batch_rows: int = BATCH_ROWS,
                 remove: bool = True) -> int:
    """Write the staged Parquet file ``staged_path`` to the Delta table ``key`` under the root, in
    record batches (never the whole table in memory), and remove the file. Returns the rows written."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from deltalake import write_deltalake

    try:
        key = check_key(key)
        # no pre-buffering: one row group (the models stage 10,000 rows per group) is read at a time
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False))
        dataset = ds.dataset(staged_path, format=fmt)
        rows = dataset.count_rows()
        if _is_placeholder(dataset, rows):
            rows = 0
            reader = pa.RecordBatchReader.from_batches(dataset.schema, iter(()))
        else:
            batches: Iterator[pa.RecordBatch] = dataset.to_batches(batch_size=batch_rows, batch_readahead=0,
                                                                   fragment_readahead=0, use_threads=False)
            reader = pa.RecordBatchReader.from_batches(dataset.schema, (_compact(b) for b in batches))
        storage.ensure_root()   # a local root gets its owner-only quarantine/ before anything lands there
        write_deltalake(storage.uri(key), reader, mode="overwrite", schema_mode="overwrite",
                        target_file_size=TARGET_FILE_BYTES, storage_options=storage.delta_storage_options())
        kill_point("curated.after_commit")
        log.info("curated table %s written: %d rows", key, rows)
        return rows
    finally:
        if remove:
            try:
                os.remove(staged_path)
            except FileNotFoundError:
                pass
