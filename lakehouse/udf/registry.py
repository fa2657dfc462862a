"""The UDF catalogue: name, Arrow function, DuckDB parameter and return types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lakehouse.udf import build as _build
from lakehouse.udf import convert as _convert
from lakehouse.udf import hashing as _hashing
from lakehouse.udf import privacy as _privacy

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class UdfSpec:
    name: str
    fn: Callable[..., Any]
    params: list[str]
    returns: str
    side_effects: bool = False


# (kind, messages, prompt, chosen, rejected, text): the payload of any record kind
_RECORD_PARAMS = ["VARCHAR", _convert.MESSAGES_SQL, _convert.MESSAGES_SQL, _convert.MESSAGES_SQL,
                  _convert.MESSAGES_SQL, "VARCHAR"]

UDFS: list[UdfSpec] = [
    UdfSpec("lh_convert", _convert.convert_batch, ["VARCHAR", "VARCHAR", "VARCHAR"], _convert.CONVERTED_LIST_SQL),
    UdfSpec("lh_convert_group", _convert.convert_group_batch, ["VARCHAR[]", "VARCHAR"], _convert.CONVERTED_LIST_SQL),
    UdfSpec("lh_content_hash", _hashing.content_hash_batch,
            ["VARCHAR", _convert.MESSAGES_SQL, _convert.MESSAGES_SQL, _convert.MESSAGES_SQL, _convert.MESSAGES_SQL,
             "VARCHAR", "BOOLEAN"], "VARCHAR"),
    UdfSpec("lh_redact", _privacy.redact_batch, _RECORD_PARAMS, _privacy.REDACTED_SQL),
    UdfSpec("lh_pii_residual", _privacy.residual_batch, _RECORD_PARAMS, "BIGINT"),
    UdfSpec("lh_build_info", _build.build_info_batch, ["VARCHAR"], _build.BUILD_SQL),
    UdfSpec("lh_safety", _privacy.safety_batch, _RECORD_PARAMS, _privacy.SAFETY_SQL),
]


def register_all(con: "duckdb.DuckDBPyConnection") -> None:
    """Register every UDF on a connection (idempotent)."""
    existing = {r[0] for r in con.execute(
        "select distinct function_name from duckdb_functions() where function_name like 'lh_%'").fetchall()}
    for spec in UDFS:
        if spec.name in existing:
            continue
        con.create_function(spec.name, spec.fn, spec.params, spec.returns, type="arrow",
                            null_handling="special", side_effects=spec.side_effects)
