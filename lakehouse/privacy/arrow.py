"""Arrow adapters for vectorized UDFs (e.g. DuckDB ``create_function(..., type="arrow")``).

    import duckdb
    from lakehouse.privacy.arrow import redact_conversations_arrow, conversations_result_type
    msgs = duckdb.list_type(duckdb.struct_type({"role": "VARCHAR", "content": "VARCHAR"}))
    con.create_function("pii_redact", redact_conversations_arrow, [msgs],
                        conversations_result_type(msgs), type="arrow", side_effects=False)
    -- SELECT pii_redact(messages).messages, pii_redact(messages).pii_status ...

The message list type of the input is kept as is (extra struct fields survive). ``counts`` is
a MAP(VARCHAR, INTEGER) of redactions by entity type. Uses the process-wide get_redactor().
"""

from __future__ import annotations

from typing import Any


def _pa() -> Any:
    import pyarrow as pa

    return pa


def _counts_type() -> Any:
    pa = _pa()
    return pa.map_(pa.string(), pa.int32())


def conversations_result_type(messages_type: Any) -> Any:
    """DuckDB STRUCT(messages <input list type>, pii_status VARCHAR, counts MAP(VARCHAR, INTEGER))."""
    import duckdb

    return duckdb.struct_type({"messages": messages_type, "pii_status": "VARCHAR",
                               "counts": duckdb.map_type("VARCHAR", "INTEGER")})


def texts_result_type() -> Any:
    """DuckDB STRUCT(text VARCHAR, pii_status VARCHAR, counts MAP(VARCHAR, INTEGER))."""
    import duckdb

    return duckdb.struct_type({"text": "VARCHAR", "pii_status": "VARCHAR", "counts": duckdb.map_type("VARCHAR", "INTEGER")})


def _combine(arr: Any) -> Any:
    return arr.combine_chunks() if hasattr(arr, "combine_chunks") else arr


def redact_conversations_arrow(messages: Any) -> Any:
    """list<struct<role, content, ...>> array -> struct<messages, pii_status, counts> array (packaged config)."""
    return conversations_with(None, messages)


def redact_texts_arrow(texts: Any) -> Any:
    """string array -> struct<text, pii_status, counts> array (packaged config; each text its own scope)."""
    return texts_with(None, texts)


def conversations_with(config_path: str | None, messages: Any) -> Any:
    """redact_conversations_arrow with a given privacy.yml (bind it with functools.partial for a UDF)."""
    from .redactor import get_redactor

    pa = _pa()
    messages = _combine(messages)
    results = get_redactor(config_path).redact_conversations(messages.to_pylist())
    return pa.StructArray.from_arrays(
        [pa.array([r.messages for r in results], type=messages.type),
         pa.array([r.pii_status for r in results], type=pa.string()),
         pa.array([list(r.counts.items()) for r in results], type=_counts_type())],
        names=["messages", "pii_status", "counts"])


def texts_with(config_path: str | None, texts: Any) -> Any:
    """redact_texts_arrow with a given privacy.yml."""
    from .redactor import get_redactor

    pa = _pa()
    results = get_redactor(config_path).redact_texts(_combine(texts).to_pylist())
    return pa.StructArray.from_arrays(
        [pa.array([r.text for r in results], type=pa.string()),
         pa.array([r.pii_status for r in results], type=pa.string()),
         pa.array([list(r.counts.items()) for r in results], type=_counts_type())],
        names=["text", "pii_status", "counts"])
