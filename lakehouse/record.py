"""The record contract, defined once.

A record is one training example in one of three kinds, carried as a payload struct:

- ``sft``: ``messages`` (and ``label`` for unpaired KTO rows);
- ``preference``: ``prompt``, ``chosen``, ``rejected``;
- ``pretrain``: ``text``.

Its Arrow type (for batch functions) and its DuckDB SQL type (for UDF signatures and casts in
dbt models) are both generated from :data:`PAYLOAD_FIELDS`, so the two never drift apart.
Quarantine reasons are (code, detail) pairs: ``code`` from :data:`REASON_CODES`, ``detail`` free
text with counts or names, never message text.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

MESSAGE_FIELDS: tuple[tuple[str, pa.DataType], ...] = (("role", pa.string()), ("content", pa.string()))
MESSAGE_TYPE = pa.struct(list(MESSAGE_FIELDS))
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)

#: the payload of any record kind, in this order everywhere (UDF parameters, batch columns)
PAYLOAD_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("kind", pa.string()),
    ("messages", MESSAGES_TYPE),
    ("prompt", MESSAGES_TYPE),
    ("chosen", MESSAGES_TYPE),
    ("rejected", MESSAGES_TYPE),
    ("text", pa.string()),
    ("label", pa.bool_()),
)
PAYLOAD_COLUMNS: tuple[str, ...] = tuple(n for n, _ in PAYLOAD_FIELDS)
PAYLOAD_TYPE = pa.struct(list(PAYLOAD_FIELDS))
PAYLOAD_SCHEMA = pa.schema(list(PAYLOAD_FIELDS))

_SQL_SCALARS = {pa.string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
                pa.float64(): "DOUBLE", pa.float32(): "FLOAT"}


def sql_type(t: pa.DataType) -> str:
    """DuckDB type of an Arrow type (structs, lists and the scalars records use)."""
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{t.field(i).name} {sql_type(t.field(i).type)}" for i in range(t.num_fields)) + ")"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return sql_type(t.value_type) + "[]"
    if t in _SQL_SCALARS:
        return _SQL_SCALARS[t]
    raise TypeError(f"no SQL type for {t}")


MESSAGES_SQL = sql_type(MESSAGES_TYPE)
PAYLOAD_SQL = sql_type(PAYLOAD_TYPE)


class Reason(NamedTuple):
    """A quarantine reason: a stable code and a human detail (never message text)."""

    code: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.code} {self.detail}".strip()


#: every quarantine reason code, with what it means (the quarantine mart and the docs list these)
REASON_CODES: dict[str, str] = {
    "invalid_json": "the raw line is not valid JSON",
    "invalid_csv": "the raw row is not valid CSV (stray or unclosed quote, wrong field count)",
    "unknown_role": "a message role that no role map resolves",
    "missing_field": "a field the shape needs is absent",
    "empty_turn": "a message with no text",
    "converter_error": "the shape converter failed on this record",
    "no_records": "the raw record converted to nothing",
    "unregistered_family": "the record's family is not in the dataset registry",
    "license": "license missing or not in the allow-list",
    "crossover": "the record's phase is not one its family may feed",
    "quality": "below a quality threshold of its family",
    "safety": "harmful or unhandled-crisis response (non-edge families)",
    "clinical_review": "a clinician failed or escalated the record",
}
