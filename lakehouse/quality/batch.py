"""The engine entry point: ``lakehouse.quality.batch:score_batch``.

    from lakehouse.quality.batch import score_batch, QUALITY_SCHEMA, quality_fingerprint, quality_metadata
    scores = score_batch(batch)                       # pyarrow.RecordBatch -> RecordBatch (QUALITY_SCHEMA)
    scores = score_batch(batch, embeddings=False)     # lexicon-only
    quality_fingerprint()    # {"scorer", "version", "config_hash", "embeddings", "model", "key"}: cache key + provenance
    quality_metadata(row)    # the release's metadata.quality dict from one row of scores

Input columns: kind (sft | preference | pretrain), messages, prompt, chosen, rejected
(list<struct<role, content>>) and text. Output: one row per input row, same order, flat score
columns. A row's scores depend only on that row and the config (turns are analysed and embedded
individually, without padding; floats rounded to 3 decimals), whatever the batch or engine.
Keyword config is deep-merged over quality.yml (``config_path=`` picks another file).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Mapping

import pyarrow as pa

from .scorers import MECHANISMS, Record, get_scorer

QUALITY_SCHEMA = pa.schema([
    ("empathy", pa.float64()),
    ("emotional_reactions", pa.float64()),
    ("interpretations", pa.float64()),
    ("explorations", pa.float64()),
    ("coherence", pa.float64()),
    ("reasoning_completeness", pa.float64()),
    ("crisis_disclosure", pa.bool_()),
    ("crisis_categories", pa.list_(pa.string())),
    ("crisis_handling", pa.float64()),
    ("harmful_response", pa.bool_()),
    ("toxic_assistant", pa.bool_()),
    ("preference_margin", pa.float64()),
])
QUALITY_COLUMNS = tuple(QUALITY_SCHEMA.names)
# The same columns as a DuckDB type, for a UDF / struct column
QUALITY_SQL = ("STRUCT(empathy DOUBLE, emotional_reactions DOUBLE, interpretations DOUBLE, explorations DOUBLE, "
               "coherence DOUBLE, reasoning_completeness DOUBLE, crisis_disclosure BOOLEAN, crisis_categories VARCHAR[], "
               "crisis_handling DOUBLE, harmful_response BOOLEAN, toxic_assistant BOOLEAN, preference_margin DOUBLE)")
INPUT_COLUMNS = ("kind", "messages", "prompt", "chosen", "rejected", "text")


def quality_schema() -> pa.Schema:
    return QUALITY_SCHEMA


def _split_config(config: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    cfg = dict(config)
    return cfg.pop("config_path", None), cfg


def score_batch(batch: pa.RecordBatch, **config: Any) -> pa.RecordBatch:
    """Quality scores for every row of ``batch`` (QUALITY_SCHEMA, same rows, same order)."""
    path, overrides = _split_config(config)
    missing = [c for c in INPUT_COLUMNS if c not in batch.schema.names]
    if missing:
        raise ValueError(f"score_batch: input lacks columns {missing}")
    cols = {c: batch.column(c).to_pylist() for c in INPUT_COLUMNS}
    records = [Record(*vals) for vals in zip(*(cols[c] for c in INPUT_COLUMNS))]
    rows = get_scorer(path, **overrides).score_records(records)
    arrays = [pa.array([r[name] for r in rows], type=QUALITY_SCHEMA.field(name).type) for name in QUALITY_COLUMNS]
    return pa.RecordBatch.from_arrays(arrays, schema=QUALITY_SCHEMA)


@functools.lru_cache(maxsize=8)
def _fingerprint(path: str | None, overrides_json: str) -> dict[str, Any]:
    import hashlib

    from .config import load_quality_config

    cfg = load_quality_config(path, **json.loads(overrides_json))
    model = cfg.section("model")
    out = {
        "scorer": cfg.scorer,
        "version": cfg.version,
        "config_hash": cfg.config_hash,
        "embeddings": cfg.embeddings,
        "model": ("all-MiniLM-L6-v2 sha256:" + str((model.get("sha256") or {}).get("model.safetensors", ""))[:16]
                  + f" max_tokens={model.get('max_tokens')}") if cfg.embeddings else None,
    }
    out["key"] = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()
    return out


def quality_fingerprint(**config: Any) -> dict[str, Any]:
    """Scorer name, version and config hash (+ ``key``, a sha256 over them): the cache key of scores
    and the scorer entry of release provenance. Same keyword config as score_batch."""
    path, overrides = _split_config(config)
    return dict(_fingerprint(path, json.dumps(overrides, sort_keys=True, default=str)))


def quality_metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    """The release's ``metadata.quality`` from one row of scores (a dict with QUALITY_COLUMNS)."""
    return {
        "empathy": row.get("empathy"),
        "empathy_mechanisms": {k: row.get(k) for k in MECHANISMS},
        "coherence": row.get("coherence"),
        "reasoning_completeness": row.get("reasoning_completeness"),
        "crisis_disclosure": bool(row.get("crisis_disclosure")),
        "crisis_categories": list(row.get("crisis_categories") or []),
        "crisis_handling": row.get("crisis_handling"),
        "harmful_response": bool(row.get("harmful_response")),
        "toxic_assistant": bool(row.get("toxic_assistant")),
        "preference_margin": row.get("preference_margin"),
    }
