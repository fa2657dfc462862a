"""Statement checks of `lakehouse sql` and trace helpers (no lakehouse needed)."""

from __future__ import annotations

import pytest

from lakehouse.query import ReadOnlyViolation, ensure_read_only
from lakehouse.query.output import cell_text, fit_widths
from lakehouse.query.trace import redaction_counts
from lakehouse.query.views import messages_view_sql, missing_hint


@pytest.mark.parametrize("statement", [
    "select 1", "with a as (select 1 as x) select * from a", "select 1 union all select 2", "values (1), (2)",
    "describe conversations", "show tables", "summarize select 1 as x", "explain select 1", "from conversations",
    "select [x * 2 for x in [1, 2]]", "select * from range(3)", "select * from unnest([1, 2])", "select 1; select 2",
    "select 'drop table x; insert' as s",
])
def test_read_only_queries_pass_the_check(statement):
    ensure_read_only(statement)


@pytest.mark.parametrize("statement", [
    "update x set a = 1", "delete from x", "truncate x", "alter table x add column y int", "checkpoint",
    "call pragma_version()", "use other", "begin", "create secret s (type s3)", "load delta", "reset threads",
    "import database 'x'", "detach other", "create or replace macro m(x) as x", "vacuum",
    "select * from duckdb_secrets()", "select * from query('select 1')", "set variable v = 1",
    # the sandbox probes: file readers, network, and quoted or qualified names of refused functions
    "select * from read_text('/etc/passwd')", "select * from read_csv('/root/.aws/credentials')",
    "select * from glob('/root/*')", "select * from read_blob('/work/target/lakehouse.duckdb')",
    "select * from read_text('http://127.0.0.1:9/x')", 'select * from "duckdb_secrets"()',
    'select * from "query"(\'select 1\')', 'select * from "QUERY_TABLE"(\'conversations\')',
    'select * from main."read_text"(\'/etc/passwd\')', "select * from '/etc/passwd'",
    "select * from 's3://bucket/raw/x/part-0.parquet'", "explain select * from read_parquet('x.parquet')",
    "select * from delta_scan('/tmp/lake/raw/x')", "select * from conversations where record_id in "
    "(select content from read_text('/etc/hostname'))", "select * from json_execute_serialized_sql('{}')",
])
def test_other_writes_are_refused_by_the_check(statement):
    with pytest.raises(ReadOnlyViolation):
        ensure_read_only(statement)


def test_redaction_counts_shapes():
    assert redaction_counts('{"PERSON": 2, "EMAIL_ADDRESS": 1}') == {"PERSON": 2, "EMAIL_ADDRESS": 1}
    assert redaction_counts([{"entity_type": "PERSON"}, {"entity_type": "PERSON"}, {"type": "PHONE", "count": 3}]) \
        == {"PERSON": 2, "PHONE": 3}
    assert redaction_counts("{}") == {} and redaction_counts(None) is None



def test_messages_view_handles_missing_columns():
    base = {"record_id": "VARCHAR", "kind": "VARCHAR"}
    assert messages_view_sql(base) is None
    only_sft = messages_view_sql({**base, "messages": 'STRUCT("role" VARCHAR, content VARCHAR)[]'})
    assert only_sft and "prompt" not in only_sft
    both = messages_view_sql({**base, "messages": "STRUCT(role VARCHAR, content VARCHAR)[]",
                              "prompt": "STRUCT(role VARCHAR, content VARCHAR)[]",
                              "chosen": "STRUCT(role VARCHAR, content VARCHAR)[]", "split": "VARCHAR"})
    assert both and "'chosen'" in both and "split" in both


def test_missing_hints():
    assert "lakehouse land" in (missing_hint("raw_counsel_chat") or "")
    assert "dbt build --select release" in (missing_hint("conversations") or "")
    assert missing_hint("something_else") is None


def test_cells_are_truncated_to_one_line():
    assert cell_text("a" * 100, 10) == "a" * 9 + "…"
    assert cell_text("two\nlines", 60) == "two⏎lines"
    assert cell_text(None, 5) == "NULL" and cell_text([{"role": "user"}], 60) == '[{"role": "user"}]'
    assert fit_widths([50, 50, 4], 80) == [34, 34, 4] or sum(fit_widths([50, 50, 4], 80)) + 10 <= 80
