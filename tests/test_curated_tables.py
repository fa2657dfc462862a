"""The curated Delta tables `lakehouse sql` reads are dbt models (models/release/marts/curated/).

Unit tests of the plugin's store step (lakehouse/export/curated.py) on a staged Parquet file, locally
and on S3; then one dbt build without the exporter that writes them, and a build whose gate fails
and leaves them as they were.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse.export.curated import check_key, store_staged
from lakehouse.storage import Storage

CURATED = ("curated/conversations", "curated/coverage", "curated/near_duplicate_removals", "quarantine/records")


def _staged(path: Path, rows: int, *, extra: bool = False) -> Path:
    cols = {"record_id": [f"r{i}" for i in range(rows)], "n": list(range(rows))}
    if extra:
        cols["added"] = ["x"] * rows
    pq.write_table(pa.table(cols), path, row_group_size=10)
    return path


def _delta(storage: Storage, key: str):  # type: ignore[no-untyped-def]
    from deltalake import DeltaTable

    return DeltaTable(storage.uri(key), storage_options=storage.delta_storage_options())


# -- the store step --------------------------------------------------------------------------------
def test_store_streams_batches_overwrites_schema_and_removes_the_staged_file(local_root, tmp_path, monkeypatch):
    import deltalake

    import lakehouse.export.curated as curated

    st = Storage.from_env()
    seen: list[int] = []
    real = deltalake.write_deltalake

    def spy(uri, data, **kw):  # type: ignore[no-untyped-def]
        assert isinstance(data, pa.RecordBatchReader)        # a stream, never a materialized table

        def counted():  # type: ignore[no-untyped-def]
            for b in data:
                seen.append(b.num_rows)
                yield b
        return real(uri, pa.RecordBatchReader.from_batches(data.schema, counted()), **kw)

    monkeypatch.setattr(deltalake, "write_deltalake", spy)
    staged = _staged(tmp_path / "q.parquet", 45)
    assert store_staged(st, str(staged), "quarantine/records", batch_rows=10) == 45
    assert not staged.exists()
    assert len(seen) >= 4 and max(seen) <= 10 and sum(seen) == 45
    assert _delta(st, "quarantine/records").to_pyarrow_table().num_rows == 45
    # local root: the prefix holding original text is owner-only
    assert stat.S_IMODE(os.stat(st.uri("quarantine")).st_mode) == 0o700
    # a later build that adds a column replaces the table and its schema
    staged = _staged(tmp_path / "q.parquet", 5, extra=True)
    store_staged(st, str(staged), "quarantine/records")
    t = _delta(st, "quarantine/records").to_pyarrow_table()
    assert t.num_rows == 5 and "added" in t.column_names
    assert curated.BATCH_ROWS > 0


def test_nested_columns_in_sliced_batches_do_not_crash_the_writer(tmp_path):
    """Batches of a multi-row-group file with a struct holding a list (metadata.quality), nulls
    and list columns: delta-rs panicked (process abort) on the reader's sliced buffers before
    store_staged compacted them. Run in a child process, so a panic is a failed test, not a crash."""
    n = 3000
    table = pa.table({
        "record_id": [str(i) for i in range(n)],
        "quality": [None if i % 3 == 0 else {"empathy": float(i), "m": {"x": 1.0},
                                              "crisis_categories": [] if i % 2 else ["suicidal_ideation"]}
                    for i in range(n)],
        "messages": [[{"role": "user", "content": "hi " * (i % 7)}] if i % 5 else None for i in range(n)],
        "stereotype_flags": [["a"] if i % 4 else [] for i in range(n)],
    })
    staged = tmp_path / "staged.parquet"
    pq.write_table(table, staged, row_group_size=1000)
    root = tmp_path / "root"
    code = ("import sys; from lakehouse.storage import Storage; from lakehouse.export.curated import store_staged; "
            f"print(store_staged(Storage.from_env({str(root)!r}), {str(staged)!r}, 'curated/conversations', batch_rows=400))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-500:]
    assert res.stdout.strip().splitlines()[-1] == str(n)
    from deltalake import DeltaTable

    assert DeltaTable(str(root / "curated" / "conversations")).to_pyarrow_table().num_rows == n


def test_empty_model_placeholder_row_gives_an_empty_table(local_root, tmp_path):
    st = Storage.from_env()
    path = tmp_path / "empty.parquet"   # what dbt-duckdb's external materialization writes for 0 rows
    pq.write_table(pa.table({"removed_id": pa.array([None], pa.string()), "jaccard": pa.array([None], pa.float64())}), path)
    assert store_staged(st, str(path), "curated/near_duplicate_removals") == 0
    t = _delta(st, "curated/near_duplicate_removals").to_pyarrow_table()
    assert t.num_rows == 0 and t.column_names == ["removed_id", "jaccard"]


def test_store_refuses_keys_outside_the_curated_prefixes(local_root, tmp_path):
    for bad in ("exports/releases/x", "raw/src", "curated/../raw", "curated/a/b", "curated/", "", None):
        with pytest.raises(ValueError):
            check_key(bad)  # type: ignore[arg-type]
    staged = _staged(tmp_path / "s.parquet", 3)
    with pytest.raises(ValueError):
        store_staged(Storage.from_env(), str(staged), "exports/x")
    assert not staged.exists()                             # removed on failure too
    assert check_key("/curated/conversations/") == "curated/conversations"


@pytest.mark.s3
def test_store_on_s3(s3_root, tmp_path):
    st = Storage.from_env()
    st.ensure_root()
    staged = _staged(tmp_path / "c.parquet", 25)
    assert store_staged(st, str(staged), "curated/conversations", batch_rows=10) == 25
    assert not staged.exists()
    assert _delta(st, "curated/conversations").to_pyarrow_table().num_rows == 25


def test_each_curated_view_has_exactly_one_model():
    """The keys `lakehouse sql` reads (lakehouse/query/views.py) are the `delta_key`s of the curated models."""
    import re

    from lakehouse.query.views import DELTA_VIEWS

    models = Path(__file__).resolve().parents[1] / "models" / "release" / "marts" / "curated"
    keys = sorted(k for p in models.glob("*.sql") for k in re.findall(r"delta_key='([^']+)'", p.read_text()))
    assert keys == sorted(CURATED)
    assert keys == sorted(v.key for v in DELTA_VIEWS if v.key.split("/")[0] in ("curated", "quarantine"))


# -- dbt -------------------------------------------------------------------------------------------
def _versions(st: Storage) -> dict[str, int]:
    return {k: _delta(st, k).version() for k in CURATED}


@pytest.mark.dbt
def test_dbt_build_writes_the_curated_tables_and_a_failing_gate_keeps_them(local_root, tmp_path):
    import duckdb

    from lakehouse import duck
    from lakehouse.export import list_releases
    from pipeline_helpers import run_dbt
    from test_query_support import build_vars, land_inputs, write_inputs

    st = Storage.from_env()
    st.ensure_root()
    land_inputs(write_inputs(tmp_path / "inputs"), st)
    work = tmp_path / "b1"
    # dbt alone, without the exporter: the curated models still run after the gates
    res = run_dbt(work, "--exclude", "release_export", vars=build_vars())
    assert res.ok, res.output[-5000:]
    assert list_releases(st) == []
    versions = _versions(st)
    out = subprocess.run([sys.executable, "-m", "lakehouse.cli", "sql", "select count(*) as n from conversations",
                          "--format", "json", "--root", local_root], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    n = json.loads(out.stdout.strip().splitlines()[-1])["n"]
    con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
    duck.configure(con, st.settings)
    assert n == con.execute("select count(*) from conversations").fetchone()[0] == 6 + 4 + 3
    # the model's own view reads the Delta table it wrote; same columns as the mart
    assert con.execute("select count(*) from curated_conversations").fetchone()[0] == n
    for model, mart in (("curated_conversations", "conversations"), ("quarantine_records", "quarantine"),
                        ("curated_coverage", "coverage"), ("curated_near_duplicate_removals", "near_duplicate_removals")):
        assert [c[0] for c in con.execute(f"describe {model}").fetchall()] == \
               [c[0] for c in con.execute(f"describe {mart}").fetchall()], model
    assert con.execute("select count(*) from quarantine_records").fetchone()[0] == \
        con.execute("select count(*) from quarantine").fetchone()[0] > 0
    con.close()
    # the staged files (original text for quarantine) are gone, and never were under the root
    assert not list(work.glob("*.staged.parquet")) and not list(Path(local_root).rglob("*.staged.parquet"))

    # a failing gate (required families no longer waived), re-run from the gated model on the same
    # build database: the curated models are skipped and no curated table gets a new version
    res = run_dbt(work, vars={**build_vars(), "coverage_waivers": []}, select="release_conversations+")
    assert not res.ok and "Failure in test gate_coverage_release_conversations" in res.output
    for model in ("curated_conversations", "curated_coverage", "curated_near_duplicate_removals", "quarantine_records"):
        assert f"SKIP relation main.{model}" in res.output, model
    assert _versions(st) == versions
    assert list_releases(st) == []
    assert not list(work.glob("*.staged.parquet"))
