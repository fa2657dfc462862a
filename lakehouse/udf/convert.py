"""Arrow adapters for shape conversion (``lakehouse.shapes.convert``)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from lakehouse.record import MESSAGES_SQL, MESSAGES_TYPE as _MSG, PAYLOAD_FIELDS, sql_type

CONVERTED_TYPE = pa.struct([*PAYLOAD_FIELDS, ("quarantine_reason", pa.string()), ("repairs", pa.string())])
CONVERTED_LIST_TYPE = pa.list_(CONVERTED_TYPE)
CONVERTED_SQL = sql_type(CONVERTED_TYPE)
CONVERTED_LIST_SQL = CONVERTED_SQL + "[]"


def _msgs(ms: Any) -> list[dict[str, str]] | None:
    if ms is None:
        return None
    return [{"role": m["role"], "content": m["content"]} for m in ms]


def _row(c: Any) -> dict[str, Any]:
    return {
        "kind": c.kind, "messages": _msgs(c.messages), "prompt": _msgs(c.prompt), "chosen": _msgs(c.chosen),
        "rejected": _msgs(c.rejected), "text": c.text, "label": c.label, "quarantine_reason": c.quarantine_reason,
        "repairs": json.dumps(c.repairs or {}, sort_keys=True, separators=(",", ":")),
    }


def _failed(reason: str) -> list[dict[str, Any]]:
    return [{"kind": None, "messages": None, "prompt": None, "chosen": None, "rejected": None, "text": None,
             "label": None, "quarantine_reason": reason, "repairs": "{}"}]


def convert_one(record_json: str | None, shape: str | None, options_json: str | None) -> list[dict[str, Any]]:
    """One raw record -> converted rows; never raises (failures become quarantine reasons)."""
    from lakehouse import shapes

    if record_json is None:
        return _failed("invalid_json")
    try:
        record = json.loads(record_json)
    except ValueError:
        return _failed("invalid_json")
    try:
        opts = shapes.ShapeOptions.from_json(options_json or "{}")
        out = shapes.convert(record, shape or "", opts)
    except Exception as e:  # a converter bug must not lose the record
        return _failed(f"converter_error: {type(e).__name__}")
    return [_row(c) for c in out] or _failed("no_records")


def convert_batch(records: pa.Array, shapes_: pa.Array, options: pa.Array) -> pa.Array:
    rows = [convert_one(r, s, o) for r, s, o in zip(records.to_pylist(), shapes_.to_pylist(), options.to_pylist())]
    return pa.array(rows, type=CONVERTED_LIST_TYPE)


def convert_group_one(records: list[str] | None, options_json: str | None) -> list[dict[str, Any]]:
    from lakehouse import shapes

    try:
        rows = [json.loads(r) for r in (records or [])]
    except ValueError:
        return _failed("invalid_json")
    try:
        out = shapes.convert_group(rows, shapes.ShapeOptions.from_json(options_json or "{}"))
    except Exception as e:
        return _failed(f"converter_error: {type(e).__name__}")
    return [_row(c) for c in out] or _failed("no_records")


def convert_group_batch(groups: pa.Array, options: pa.Array) -> pa.Array:
    rows = [convert_group_one(g, o) for g, o in zip(groups.to_pylist(), options.to_pylist())]
    return pa.array(rows, type=CONVERTED_LIST_TYPE)
