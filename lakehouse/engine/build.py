"""The dbt Python models' bodies: per-record stages between DuckDB relations and the engine.

Each function takes the dbt session (a DuckDB connection with the lakehouse extensions, S3
secret and UDFs) and the SQL names of its inputs, and returns a DuckDB relation that dbt
materializes. Set work (distinct keys, joins, anti-joins against the caches) is SQL; the per-record
work streams through :func:`lakehouse.engine.runner.map_keeping` in bounded batches. Results the
build cannot cache (redacted text) go to a staging table in the build database, never to memory
as a whole.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterator

from lakehouse.engine.cache import ResultCache, cached_map
from lakehouse.engine.runner import map_keeping
from lakehouse.engine.settings import engine_settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

log = logging.getLogger("lakehouse.engine")


def _storage() -> Any:
    from lakehouse.engine.cache import cache_storage

    return cache_storage()


def _texts_sql(records: str, key_col: str = "record_id") -> str:
    """(owner, text) for every text a record's redaction analyses: message contents of any kind,
    or the pretrain text."""
    return f"""
        select {key_col} as owner, m.content as content
        from {records}, unnest(coalesce(messages, []) || coalesce(prompt, []) || coalesce(chosen, [])
                               || coalesce(rejected, [])) as u(m)
        where m.content is not null
        union all
        select {key_col} as owner, coalesce(text, '') as content from {records} where kind = 'pretrain'
    """


_STAGE_ROWS = 16_384          # rows per INSERT into a staging table (one statement per engine batch
_STAGE_BYTES = 64 * 2**20     # cost ~5x more: 0.5 s vs 0.1 s per 20k records), bounded in memory too


def _stage_table(session: "duckdb.DuckDBPyConnection", name: str, batches: Iterator["pa.Table"]) -> "duckdb.DuckDBPyRelation":
    """Insert streamed Arrow tables into a fresh table ``name`` (grouped into a few large INSERTs);
    return it as a relation, or None when nothing came."""
    import pyarrow as pa

    writer = session.cursor()
    writer.execute(f"drop table if exists {name}")
    created = False
    pending: list[pa.Table] = []
    rows = nbytes = 0

    def flush() -> None:
        nonlocal created, rows, nbytes
        if not pending:
            return
        tbl = pa.concat_tables(pending, promote_options="permissive") if len(pending) > 1 else pending[0]
        writer.register("__lh_batch", tbl)
        writer.execute(f"insert into {name} select * from __lh_batch" if created
                       else f"create table {name} as select * from __lh_batch")
        writer.unregister("__lh_batch")
        created = True
        pending.clear()
        rows = nbytes = 0

    for tbl in batches:
        pending.append(tbl)
        rows += tbl.num_rows
        nbytes += tbl.nbytes
        if rows >= _STAGE_ROWS or nbytes >= _STAGE_BYTES:
            flush()
    flush()
    writer.close()
    return session.table(name) if created else None  # type: ignore[return-value]


# -- PII -----------------------------------------------------------------------------------------
def pii_spans(session: "duckdb.DuckDBPyConnection", releasable: str) -> "duckdb.DuckDBPyRelation":
    """Spans of every distinct message text of the releasable records (cached per sha256(text))."""
    from lakehouse.engine.stages import pii_fingerprint

    inputs = f"select sha256(content) as key, any_value(content) as text from ({_texts_sql(releasable)}) group by 1"
    sql = cached_map(session, storage=_storage(), stage="pii_spans", fp=pii_fingerprint(), inputs_sql=inputs,
                     fn_path="lakehouse.engine.stages:pii_analyze_batch", result_columns=["findings"],
                     batch_rows=256, consumer="messages")
    return session.sql(sql)


def pii_redactions(session: "duckdb.DuckDBPyConnection", releasable: str, spans: str,
                   stage_name: str) -> "duckdb.DuckDBPyRelation":
    """Redacted payload per releasable record: cached spans applied with per-conversation
    placeholders. New residual-pass analyses are added to the caches."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakehouse.engine.stages import REDACT_OUTPUT, pii_fingerprint

    storage, fp = _storage(), pii_fingerprint()
    span_cache = ResultCache(storage, "pii_spans", fp)
    residual_cache = ResultCache(storage, "pii_residual_keys", fp)
    residual_sql = residual_cache.scan_sql()
    span_sql = span_cache.scan_sql() or f"select key, findings from {spans}"
    rk = (f"select key as dedup_hash, residual_keys from ({residual_sql})" if residual_sql
          else "select null::varchar as dedup_hash, null::varchar[] as residual_keys where false")
    sql = f"""
        with r as (
            select record_id, dedup_hash, kind, messages, prompt, chosen, rejected, text, label from {releasable}
        ),
        rk as ({rk}),
        mk as (
            select distinct owner as record_id, sha256(content) as key from ({_texts_sql('r')})
            union
            select r.record_id, unnest(rk.residual_keys) as key from r join rk using (dedup_hash)
        ),
        sp as (
            select mk.record_id, list({{'key': mk.key, 'findings': s.findings}} order by mk.key) as spans
            from mk join ({span_sql}) s on s.key = mk.key
            group by 1
        )
        select r.*, sp.spans, rk.residual_keys is not null as residual_known
        from r left join sp using (record_id) left join rk using (dedup_hash)
        order by record_id
    """
    reader_con = session.cursor()
    total = reader_con.execute(f"select count(*) from {releasable}").fetchone()[0]
    reader = reader_con.execute(sql).to_arrow_reader(1024)
    payload_cols = ["messages", "prompt", "chosen", "rejected", "text", "pii_status", "pii_redactions", "content_hash"]

    def produce() -> Iterator[pa.Table]:
        new_spans: list[pa.Table] = []
        new_residual: list[pa.Table] = []
        pending = 0
        for kept, out in map_keeping("lakehouse.engine.stages:pii_redact_batch", reader,
                                     ["record_id", "dedup_hash", "residual_known"], stage="pii_redact",
                                     total=total, settings=engine_settings(), batch_rows=256):
            yield pa.Table.from_batches([pa.RecordBatch.from_arrays(
                [kept.column("record_id"), *[out.column(c) for c in payload_cols]], names=["record_id", *payload_cols])])
            spans_flat = out.column("new_spans").flatten()
            if len(spans_flat):
                new_spans.append(pa.table({"key": spans_flat.field("key"), "findings": spans_flat.field("findings")}))
            unknown = pc.invert(kept.column("residual_known"))
            if pc.any(unknown).as_py():
                new_residual.append(pa.table({"key": pc.filter(kept.column("dedup_hash"), unknown),
                                              "residual_keys": pc.filter(out.column("residual_keys"), unknown)}))
            pending += out.num_rows
            if pending >= 50_000:
                _flush(span_cache, new_spans)
                _flush(residual_cache, new_residual)
                pending = 0
        _flush(span_cache, new_spans)
        _flush(residual_cache, new_residual)

    rel = _stage_table(session, stage_name, produce())
    reader_con.close()
    # what the next `cache gc` keeps: every record's residual keys, and the spans they name
    if residual_cache.exists():
        from lakehouse.engine.cache import record_reachable

        rk_sql = f"select key, residual_keys from ({residual_cache.scan_sql()}) semi join {releasable} r on r.dedup_hash = key"
        record_reachable(session, storage, "pii_residual_keys", "records", fp, f"select key from ({rk_sql})")
        record_reachable(session, storage, "pii_spans", "residual", fp,
                         f"select unnest(residual_keys) as key from ({rk_sql})")
    if rel is None:
        return session.sql(
            "select null::varchar as record_id, " + ", ".join(
                f"null::{_sql_of(REDACT_OUTPUT.field(c).type)} as {c}" for c in payload_cols) + " where false")
    return rel


def _sql_of(t: "pa.DataType") -> str:
    from lakehouse.record import sql_type

    return sql_type(t)


def _flush(cache: ResultCache, parts: list["pa.Table"]) -> None:
    import pyarrow as pa

    if parts:
        tbl = pa.concat_tables(parts)
        # one row per key: residual texts repeat across records of a batch only by coincidence
        keys = tbl.column("key").to_pylist()
        seen: set[str] = set()
        keep = [i for i, k in enumerate(keys) if not (k in seen or seen.add(k))]  # type: ignore[func-returns-value]
        cache.append(tbl.take(keep))
        parts.clear()


def pii_residual(session: "duckdb.DuckDBPyConnection", released: str, source_keys: str) -> "duckdb.DuckDBPyRelation":
    """Findings left in each released (redacted) record: its texts' spans from the cache (computed
    where missing), outside placeholders, plus those left in its released source_key
    (``source_keys``: int_source_keys_redacted, scanned by the cached source_keys stage)."""
    import pyarrow as pa

    from lakehouse.engine.stages import pii_fingerprint

    inputs = f"select sha256(content) as key, any_value(content) as text from ({_texts_sql(released)}) group by 1"
    spans_sql = cached_map(session, storage=_storage(), stage="pii_spans", fp=pii_fingerprint(), inputs_sql=inputs,
                           fn_path="lakehouse.engine.stages:pii_analyze_batch", result_columns=["findings"],
                           batch_rows=256, consumer="released")
    sql = f"""
        with r as (select record_id, kind, messages, prompt, chosen, rejected, text from {released}),
        mk as (select distinct owner as record_id, sha256(content) as key from ({_texts_sql('r')})),
        sp as (
            select mk.record_id, list({{'key': mk.key, 'findings': s.findings}} order by mk.key) as spans
            from mk join ({spans_sql}) s on s.key = mk.key group by 1
        )
        select r.*, sp.spans from r left join sp using (record_id) order by record_id
    """
    reader_con = session.cursor()
    total = reader_con.execute(f"select count(*) from {released}").fetchone()[0]
    reader = reader_con.execute(sql).to_arrow_reader(1024)

    def produce() -> Iterator[pa.Table]:
        for kept, out in map_keeping("lakehouse.engine.stages:pii_residual_batch", reader, ["record_id"],
                                     stage="pii_residual_scan", total=total, batch_rows=512):
            yield pa.table({"record_id": kept.column("record_id"), "findings": out.column("findings")})

    rel = _stage_table(session, "__lh_pii_residual_stage", produce())
    reader_con.close()
    if rel is None:
        return session.sql("select null::varchar as record_id, 0::bigint as findings where false")
    return session.sql(f"""
        -- a released source_key the stage did not scan counts as a finding: the gate fails closed
        select s.record_id,
               s.findings + case when r.source_key is not null and k.source_key is null then 1
                                 else coalesce(k.findings, 0) end as findings
        from __lh_pii_residual_stage s
        join {released} r using (record_id)
        left join (select source_key, max(source_key_findings) as findings from {source_keys} group by 1) k
            on k.source_key = r.source_key
        order by s.record_id
    """)


# -- generic: stream a relation through a batch function into a staging table --------------------
def map_to_table(session: "duckdb.DuckDBPyConnection", sql: str, fn_path: str, *, keep: list[str],
                 outputs: list[str], stage: str, stage_name: str, batch_rows: int = 512,
                 kwargs: dict[str, Any] | None = None, empty_sql: str) -> "duckdb.DuckDBPyRelation":
    """Run ``fn_path`` over the rows of ``sql`` on the engine; return kept columns + ``outputs``."""
    import pyarrow as pa

    reader_con = session.cursor()
    total = reader_con.execute(f"select count(*) from ({sql})").fetchone()[0]
    reader = reader_con.execute(sql).to_arrow_reader(max(batch_rows, 1024))

    def produce() -> Iterator[pa.Table]:
        for kept, out in map_keeping(fn_path, reader, keep, stage=stage, total=total, batch_rows=batch_rows,
                                     kwargs=kwargs):
            yield pa.Table.from_batches([pa.RecordBatch.from_arrays(
                [*kept.columns, *[out.column(c) for c in outputs]], names=[*keep, *outputs])])

    rel = _stage_table(session, stage_name, produce())
    reader_con.close()
    return rel if rel is not None else session.sql(empty_sql)


def convert_units(session: "duckdb.DuckDBPyConnection", units: str, stage_name: str) -> "duckdb.DuckDBPyRelation":
    from lakehouse.engine.stages import _converted_type
    from lakehouse.record import sql_type

    sql = (f"select unit_id, unit_record, unit_records, shape, shape_options, unit_error from {units} "
           "order by unit_id")
    return map_to_table(session, sql, "lakehouse.engine.stages:convert_units_batch", keep=["unit_id"],
                        outputs=["converted"], stage="convert", stage_name=stage_name, batch_rows=512,
                        empty_sql=f"select null::varchar as unit_id, null::{sql_type(_converted_type())} as converted where false")


def _representatives_sql(policy: str, columns: str) -> str:
    """One row per distinct dedup_hash of the records that passed the policy (``key`` + ``columns``
    of its smallest record_id): the input of every stage cached under the dedup_hash."""
    return (f"select dedup_hash as key, p.* from (select dedup_hash, arg_min(struct_pack({columns}), record_id) as p "
            f"from {policy} where policy_reason is null and dedup_hash is not null group by dedup_hash)")


def record_scores(session: "duckdb.DuckDBPyConnection", policy: str) -> "duckdb.DuckDBPyRelation":
    """Quality and safety scores per distinct dedup_hash of the records that passed the policy
    (cached under the scorer's fingerprint)."""
    from lakehouse.engine.stages import quality_fingerprint
    from lakehouse.quality.batch import QUALITY_COLUMNS

    inputs = _representatives_sql(policy, "kind, messages, prompt, chosen, rejected, text")
    sql = cached_map(session, storage=_storage(), stage="quality_scores", fp=quality_fingerprint(), inputs_sql=inputs,
                     fn_path="lakehouse.engine.stages:quality_batch", result_columns=list(QUALITY_COLUMNS),
                     batch_rows=128)
    return session.sql(sql)


def near_duplicates(session: "duckdb.DuckDBPyConnection", deduplicated: str, threshold: float | None) -> "pa.Table":
    """Near-duplicate clusters of the exact survivors: MinHash signatures per distinct dedup text
    from cache/minhash (computed on the engine where missing), then LSH + union-find in one pass
    (lakehouse.dedup.near, set work)."""
    from lakehouse.dedup import near_duplicate_clusters
    from lakehouse.engine.stages import minhash_fingerprint

    texts = (f"select sha256(coalesce(dedup_text, '')) as key, any_value(coalesce(dedup_text, '')) as text "
             f"from {deduplicated} where is_exact_survivor group by 1")
    sigs = cached_map(session, storage=_storage(), stage="minhash", fp=minhash_fingerprint(), inputs_sql=texts,
                      fn_path="lakehouse.engine.stages:minhash_batch", result_columns=["signature", "nonempty"],
                      batch_rows=2048, consumer="records")
    source = session.cursor().execute(
        f"select d.record_id, d.rank_key, s.signature, s.nonempty from {deduplicated} d "
        f"join ({sigs}) s on s.key = sha256(coalesce(d.dedup_text, '')) where d.is_exact_survivor order by d.record_id")
    return near_duplicate_clusters(source.to_arrow_reader(50_000), threshold=threshold)


def source_keys_redacted(session: "duckdb.DuckDBPyConnection", releasable: str) -> "duckdb.DuckDBPyRelation":
    """Each distinct source_key of the releasable records, its released form (the file name run
    through the pipeline's redactor: a file named after a person never reaches the release) and the
    findings the final PII scan leaves in that form, from cache/source_keys (computed where missing)."""
    from lakehouse.engine.stages import SOURCE_KEY_OUTPUT, pii_fingerprint

    keys = f"select distinct source_key from {releasable} where source_key is not null"
    sql = cached_map(session, storage=_storage(), stage="source_keys", fp=pii_fingerprint(),
                     inputs_sql=f"select sha256(source_key) as key, source_key from ({keys})",
                     fn_path="lakehouse.engine.stages:source_key_batch", result_columns=SOURCE_KEY_OUTPUT.names,
                     batch_rows=256)
    return session.sql(f"select k.source_key as original, c.released as source_key, c.findings as source_key_findings "
                       f"from ({keys}) k join ({sql}) c on c.key = sha256(k.source_key) order by 1")


def record_bias(session: "duckdb.DuckDBPyConnection", policy: str) -> "duckdb.DuckDBPyRelation":
    """Bias and cultural-competency columns (lakehouse.review.bias: group mentions, stereotype flags,
    bias score, language) per distinct dedup_hash of the records that passed the policy, cached in
    cache/bias_flags under the lexicon's fingerprint (flags and labels, never text)."""
    from lakehouse.engine.stages import bias_fingerprint
    from lakehouse.review.bias import bias_schema

    inputs = _representatives_sql(policy, "messages, prompt, chosen, rejected, text")
    sql = cached_map(session, storage=_storage(), stage="bias_flags", fp=bias_fingerprint(), inputs_sql=inputs,
                     fn_path="lakehouse.engine.stages:bias_flags_batch", result_columns=bias_schema().names,
                     batch_rows=256)
    return session.sql(sql)
