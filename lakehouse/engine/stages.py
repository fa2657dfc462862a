"""The build's per-record stages as pure batch functions (run by :func:`lakehouse.engine.map_batches`).

Each takes a record batch and returns one with one row per input row, and loads what it needs
once per process. Nothing here logs or returns text other than the record payload it was given
(redacted, for the redaction stage).

PII redaction is split in two so that the expensive half is cached per message:

1. ``pii_analyze_batch``: spans of each distinct message text (spaCy + Presidio), keyed by
   sha256(text) in the ``pii_spans`` cache (spans only);
2. ``pii_redact_batch``: per record, the cached spans of all its messages are seeded into the
   redactor, which applies them with consistent placeholders per conversation (names found in
   one message are propagated to the others at this point). Texts the redactor analyses on top
   (the residual pass over changed texts) come back as new ``pii_spans`` entries, and their keys
   per record as ``residual_keys``, so the next build seeds them too.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pyarrow as pa

from lakehouse.record import MESSAGES_TYPE

FINDING_TYPE = pa.struct([("entity_type", pa.string()), ("begin_offset", pa.int32()),
                          ("end_offset", pa.int32()), ("score", pa.float64())])
FINDINGS_TYPE = pa.list_(FINDING_TYPE)
KEYED_FINDINGS_TYPE = pa.list_(pa.struct([("key", pa.string()), ("findings", FINDINGS_TYPE)]))
FINDINGS_SQL = "STRUCT(entity_type VARCHAR, begin_offset INTEGER, end_offset INTEGER, score DOUBLE)[]"

PII_SPANS_VERSION = "1"
PII_REDACT_VERSION = "1"


def _worker_setup() -> None:
    """Inside an engine worker the redactor never fans out on its own."""
    import os

    os.environ["LAKEHOUSE_PII_WORKERS"] = "0"


@functools.lru_cache(maxsize=None)
def _redactor(config_path: str | None) -> Any:
    _worker_setup()
    from lakehouse.privacy import get_redactor

    return get_redactor(config_path)


def pii_fingerprint(config_path: str | None = None) -> str:
    from lakehouse.engine.cache import fingerprint
    from lakehouse.privacy import load_privacy_config

    return fingerprint("pii", PII_SPANS_VERSION, load_privacy_config(config_path).config_hash)


def _to_struct(findings: Any) -> list[dict[str, Any]]:
    return [{"entity_type": f.entity_type, "begin_offset": f.start, "end_offset": f.end, "score": f.score}
            for f in findings]


def _from_struct(rows: Any) -> tuple[Any, ...]:
    from lakehouse.privacy import Finding

    return tuple(Finding(r["entity_type"], r["begin_offset"], r["end_offset"], r["score"]) for r in rows or [])


# -- 1. analysis ------------------------------------------------------------------------------
def pii_analyze_batch(batch: pa.RecordBatch, config_path: str | None = None) -> pa.RecordBatch:
    """``text`` -> ``findings`` (spans above threshold, allow-lists applied; no text)."""
    red = _redactor(config_path)
    texts = [t or "" for t in batch.column("text").to_pylist()]
    red.clear_cache()
    found = red.analyze(texts)
    return pa.record_batch([pa.array([_to_struct(f) for f in found], FINDINGS_TYPE)], names=["findings"])


# -- 2. redaction -----------------------------------------------------------------------------
REDACT_OUTPUT = pa.schema([
    ("messages", MESSAGES_TYPE), ("prompt", MESSAGES_TYPE), ("chosen", MESSAGES_TYPE), ("rejected", MESSAGES_TYPE),
    ("text", pa.string()), ("pii_status", pa.string()), ("pii_redactions", pa.string()),
    ("content_hash", pa.string()), ("residual_keys", pa.list_(pa.string())), ("new_spans", KEYED_FINDINGS_TYPE),
])


class _Recorder:
    """Wraps ``Redactor.analyze`` to note which texts a record's redaction asked for."""

    def __init__(self, red: Any) -> None:
        self.red, self.inner, self.keys = red, red.analyze, []

    def __call__(self, texts: Any, *args: Any, **kwargs: Any) -> Any:
        from lakehouse.privacy.redactor import text_key

        self.keys.extend(text_key(t) for t in texts)
        return self.inner(texts, *args, **kwargs)


def pii_redact_batch(batch: pa.RecordBatch, config_path: str | None = None) -> pa.RecordBatch:
    """Records (kind, messages, prompt, chosen, rejected, text, label, spans, residual_keys) ->
    the redacted payload, pii_status, pii_redactions (counts JSON), content_hash of the redacted
    record, and, for records that came without ``residual_keys``, those keys and their spans."""
    from lakehouse.hashing import content_hash
    from lakehouse.udf.privacy import redact_rows

    red = _redactor(config_path)
    cols = {n: batch.column(n).to_pylist() for n in batch.schema.names}
    n = batch.num_rows
    seeded: dict[bytes, tuple[Any, ...]] = {}
    for spans in cols["spans"]:
        for s in spans or []:
            seeded[bytes.fromhex(s["key"])] = _from_struct(s["findings"])
    red.clear_cache()
    red.seed_cache(seeded)
    rows = redact_rows(cols["kind"], cols["messages"], cols["prompt"], cols["chosen"], cols["rejected"], cols["text"])
    # texts analysed here (residual passes), attributed to their records by a cheap re-run: every
    # analysis is in memory now, so this only re-applies placeholders
    fresh = {k: v for k, v in red.cache_items() if k not in seeded}
    residual: list[list[str] | None] = [None] * n
    for i in range(n):
        if cols["residual_known"][i]:
            continue
        rec = _Recorder(red)
        red.analyze = rec
        try:
            redact_rows([cols["kind"][i]], [cols["messages"][i]], [cols["prompt"][i]], [cols["chosen"][i]],
                        [cols["rejected"][i]], [cols["text"][i]])
        finally:
            del red.analyze
        own = {s["key"] for s in cols["spans"][i] or []}
        residual[i] = sorted({k.hex() for k in rec.keys} - own)
    out: dict[str, list[Any]] = {f.name: [] for f in REDACT_OUTPUT}
    emitted: set[bytes] = set()
    for i, r in enumerate(rows):
        r = r or {"messages": None, "prompt": None, "chosen": None, "rejected": None, "text": None,
                  "pii_status": None, "redactions": None}
        for c in ("messages", "prompt", "chosen", "rejected", "text"):
            out[c].append(r[c])
        out["pii_status"].append(r["pii_status"])
        out["pii_redactions"].append(r["redactions"])
        kind = cols["kind"][i]
        out["content_hash"].append(content_hash(kind, messages=r["messages"], prompt=r["prompt"], chosen=r["chosen"],
                                                rejected=r["rejected"], text=r["text"], label=cols["label"][i])
                                   if kind else None)
        out["residual_keys"].append(residual[i])
        new = []
        for k in residual[i] or []:
            kb = bytes.fromhex(k)
            if kb in fresh and kb not in emitted:
                emitted.add(kb)
                new.append({"key": k, "findings": _to_struct(fresh[kb])})
        out["new_spans"].append(new)
    return pa.record_batch([pa.array(out[f.name], f.type) for f in REDACT_OUTPUT], schema=REDACT_OUTPUT)


# -- 3. the gate's residual scan -----------------------------------------------------------------
def pii_residual_batch(batch: pa.RecordBatch, config_path: str | None = None) -> pa.RecordBatch:
    """Released (redacted) records + the cached spans of their texts -> findings left above the
    threshold outside placeholders."""
    from lakehouse.udf.privacy import record_texts, residual_counts

    red = _redactor(config_path)
    cols = {n: batch.column(n).to_pylist() for n in batch.schema.names}
    seeded = {bytes.fromhex(s["key"]): _from_struct(s["findings"]) for spans in cols["spans"] for s in spans or []}
    red.clear_cache()
    red.seed_cache(seeded)
    per_row = [record_texts(*vals) for vals in zip(cols["kind"], cols["messages"], cols["prompt"], cols["chosen"],
                                                   cols["rejected"], cols["text"])]
    return pa.record_batch([pa.array(residual_counts(red, per_row), pa.int64())], names=["findings"])


# -- 4. provenance strings -----------------------------------------------------------------------
SOURCE_KEY_OUTPUT = pa.schema([("released", pa.string()), ("findings", pa.int64())])


def source_key_batch(batch: pa.RecordBatch, config_path: str | None = None) -> pa.RecordBatch:
    """source_key -> its released form (every path segment through the redactor,
    :func:`lakehouse.provenance.redact_source_keys`) and the findings the gate's final scan leaves in
    that form's stems (:func:`lakehouse.provenance.key_stems`). Cached per sha256(source_key) under
    the PII fingerprint (stage ``source_keys``), so a rebuild loads no NER model for provenance."""
    from lakehouse.provenance import key_stems, redact_source_keys
    from lakehouse.udf.privacy import residual_counts

    red = _redactor(config_path)
    released = redact_source_keys(batch.column("source_key").to_pylist(),
                                  lambda texts: [r.text or "" for r in red.redact_texts(texts)])
    findings = residual_counts(red, [key_stems(k) for k in released])
    return pa.record_batch([pa.array(released, pa.string()), pa.array(findings, pa.int64())], schema=SOURCE_KEY_OUTPUT)


def counts_json(counts: dict[str, int]) -> str:
    return json.dumps(dict(sorted(counts.items())), separators=(",", ":"))


# -- conversion --------------------------------------------------------------------------------
def _converted_type() -> pa.DataType:
    from lakehouse.udf.convert import CONVERTED_TYPE

    return pa.list_(pa.struct([*CONVERTED_TYPE, pa.field("dedup_hash", pa.string()), pa.field("dedup_text", pa.string())]))


def dedup_text(kind: str | None, messages: Any, prompt: Any, chosen: Any, text: str | None) -> str | None:
    """The text near dedup compares (one definition: lakehouse.dedup.conversation_text): user and
    assistant turns of a conversation, of a preference prompt plus its chosen reply, or the
    pretrain text. System prompts are left out so shared ones don't make records alike."""
    from lakehouse.dedup.text import conversation_text

    if kind == "sft":
        return conversation_text(messages or [])
    if kind == "preference":
        return conversation_text([*(prompt or []), *(chosen or [])])
    if kind == "pretrain":
        return text or ""
    return None


def convert_units_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Raw units (unit_record | unit_records, shape, shape_options, unit_error) -> ``converted``:
    the records each gives, with quarantine_reason, repairs, dedup_hash (canonical SHA-256
    of the record before redaction) and dedup_text (what near dedup compares)."""
    from lakehouse.hashing import content_hash
    from lakehouse.udf.convert import _failed, convert_group_one, convert_one

    cols = {n: batch.column(n).to_pylist() for n in ("unit_record", "unit_records", "shape", "shape_options",
                                                      "unit_error")}
    out = []
    for rec, group, shape, opts, err in zip(cols["unit_record"], cols["unit_records"], cols["shape"],
                                            cols["shape_options"], cols["unit_error"]):
        if err is not None:
            rows = _failed(err)
        elif group is not None:
            rows = convert_group_one(group, opts)
        else:
            rows = convert_one(rec, shape, opts)
        for r in rows:
            ok = r["kind"] and r["quarantine_reason"] is None
            r["dedup_hash"] = (content_hash(r["kind"], messages=r["messages"], prompt=r["prompt"], chosen=r["chosen"],
                                            rejected=r["rejected"], text=r["text"], label=r["label"]) if ok else None)
            r["dedup_text"] = dedup_text(r["kind"], r["messages"], r["prompt"], r["chosen"], r["text"]) if ok else None
        out.append(rows)
    return pa.record_batch([pa.array(out, _converted_type())], names=["converted"])


# -- quality and safety scores -------------------------------------------------------------------
def canonical_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch's payload columns in canonical form (whitespace normalized as in the content hash),
    so whatever is computed from it is a function of the record's ``dedup_hash`` alone and can be
    cached under it. Other columns (kind) pass through; absent payload columns stay absent."""
    from lakehouse.hashing import normalize_whitespace

    def norm(ms: Any) -> Any:
        if ms is None:
            return None
        return [{"role": str(m.get("role") or ""), "content": normalize_whitespace(str(m.get("content") or ""))}
                for m in ms]

    out: dict[str, pa.Array] = {}
    for name in batch.schema.names:
        col = batch.column(name)
        if name in ("messages", "prompt", "chosen", "rejected"):
            out[name] = pa.array([norm(v) for v in col.to_pylist()], MESSAGES_TYPE)
        elif name == "text":
            out[name] = pa.array([normalize_whitespace(t) if t is not None else None for t in col.to_pylist()], pa.string())
        else:
            out[name] = col
    return pa.RecordBatch.from_pydict(out)


def quality_batch(batch: pa.RecordBatch, **config: Any) -> pa.RecordBatch:
    """Scores of each record's canonical form (canonical_batch): cacheable under its dedup_hash."""
    from lakehouse.quality.batch import score_batch

    return score_batch(canonical_batch(batch.select(["kind", "messages", "prompt", "chosen", "rejected", "text"])),
                       **config)


def quality_fingerprint() -> str:
    from lakehouse.engine.cache import fingerprint
    from lakehouse.quality.batch import quality_fingerprint as fp

    return fingerprint("quality", fp())


# -- near-dedup signatures ----------------------------------------------------------------------
MINHASH_VERSION = "1"


def minhash_fingerprint(threshold: float | None = None) -> str:
    """What a signature depends on: the sketch settings of dedup.yml (not the LSH threshold)."""
    from lakehouse.dedup.config import load_dedup_config
    from lakehouse.engine.cache import fingerprint

    cfg = load_dedup_config()
    return fingerprint("minhash", MINHASH_VERSION, cfg.num_perm, cfg.ngram, cfg.short_text_tokens, cfg.char_ngram, 1)


def minhash_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``text`` -> ``signature`` (num_perm uint32 values, little-endian bytes) and ``nonempty``."""
    import numpy as np

    from lakehouse.dedup.config import load_dedup_config
    from lakehouse.dedup.sketch import signatures

    cfg = load_dedup_config()
    sig, ne = signatures(batch.column("text"), num_perm=cfg.num_perm, ngram=cfg.ngram, seed=1,
                         chunk_bytes=cfg.chunk_bytes, short_tokens=cfg.short_text_tokens, char_ngram=cfg.char_ngram)
    raw = np.ascontiguousarray(sig, dtype="<u4").view(np.uint8).reshape(len(sig), -1)
    width = 4 * cfg.num_perm
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(sig), [None, pa.py_buffer(raw.tobytes())])
    return pa.record_batch([arr, pa.array(ne, pa.bool_())], names=["signature", "nonempty"])


# -- bias and cultural-competency signals (lakehouse.review.bias) ---------------------------------
def bias_fingerprint(config_path: str | None = None) -> str:
    """What a record's bias columns depend on: the signal code's version, the resolved lexicons
    (bias.yml + extra lexicons, their sha256) and the language identifier's version. A lexicon
    change re-computes only this stage."""
    from lakehouse.engine.cache import fingerprint
    from lakehouse.review.bias import BIAS_VERSION, language_id_version
    from lakehouse.review.config import load_bias_config

    return fingerprint("bias", BIAS_VERSION, load_bias_config(config_path).config_hash, language_id_version())


def bias_flags_batch(batch: pa.RecordBatch, **config: Any) -> pa.RecordBatch:
    """Bias columns (group_mentions, stereotype_flags, bias_score, language, language_score) of each
    record's canonical form (canonical_batch): cacheable under its dedup_hash. Flags and labels, never text."""
    from lakehouse.review.bias import bias_batch

    payload = [n for n in ("messages", "prompt", "chosen", "rejected", "text") if n in batch.schema.names]
    return bias_batch(canonical_batch(batch.select(payload)), **config)
