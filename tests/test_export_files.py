"""Parquet mirrors of JSONL shards: one schema per config whatever the metadata of each record."""

from __future__ import annotations

import json

import polars as pl

from lakehouse.export.files import parquet_key, unified_schema, write_parquet_mirrors


def test_schema_merges_metadata_and_keeps_conflicting_fields_as_json(tmp_path):
    rows = {
        "shards/sft/train/a/part-00000.jsonl": [
            {"messages": [{"role": "user", "content": "hi"}], "metadata": {"stage": None, "quality": 0.5}}],
        "shards/sft/train/b/part-00000.jsonl": [
            {"messages": [{"role": "user", "content": "yo"}], "metadata": {"stage": 2, "quality": {"score": 0.7},
                                                                          "extra": "x"}}],
        "shards/sft/val/a/part-00000.jsonl": [
            {"messages": [{"role": "user", "content": "hey"}], "metadata": {"stage": None}}],
    }
    for key, recs in rows.items():
        p = tmp_path / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    schema = unified_schema([str(tmp_path / k) for k in rows])
    md = dict(schema["metadata"].to_schema()) if hasattr(schema["metadata"], "to_schema") else \
        {f.name: f.dtype for f in schema["metadata"].fields}
    assert md["stage"] == pl.Int64 and md["quality"] == pl.String and md["extra"] == pl.String
    entries, schema2 = write_parquet_mirrors(str(tmp_path), list(rows))
    assert [e.key for e in entries] == [parquet_key(k) for k in rows] and all(e.records == 1 for e in entries)
    got = pl.read_parquet(tmp_path / parquet_key("shards/sft/train/b/part-00000.jsonl")).to_dicts()[0]
    assert json.loads(got["metadata"]["quality"]) == {"score": 0.7} and got["metadata"]["stage"] == 2
    first = pl.read_parquet(tmp_path / "parquet/sft/train/a/part-00000.parquet").to_dicts()[0]
    assert first["metadata"]["quality"] == "0.5" and first["metadata"]["extra"] is None
    assert {str(pl.read_parquet_schema(tmp_path / e.key)) for e in entries} == {str(pl.read_parquet_schema(
        tmp_path / entries[0].key))}   # one schema for the whole config
