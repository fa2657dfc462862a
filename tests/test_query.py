"""`lakehouse sql` and `lakehouse trace` on a fixture lakehouse built once per module, locally and on S3."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from lakehouse.query import ReadOnlyViolation, create_views, ensure_read_only, run_query, write_attach_db
from lakehouse.query.sql import MissingView, QueryError, QuerySession
from lakehouse.query.trace import TraceNotFound, redaction_counts, trace_record
from test_query_support import VERSION, BuiltLakehouse, build, local_env, shared_local_lakehouse

TEXT_PHRASE = "keeps me up at night"
REPO_TARGET = Path(__file__).resolve().parents[1] / "pyproject.toml"   # a host file outside the lakehouse    # in every fixture conversation: must not leak by default

pytestmark = pytest.mark.dbt


@pytest.fixture(scope="module", params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake(request, tmp_path_factory) -> BuiltLakehouse:  # type: ignore[no-untyped-def]
    if request.param == "local":
        return shared_local_lakehouse(tmp_path_factory)
    work = tmp_path_factory.mktemp("query-s3")
    server = request.getfixturevalue("s3_server")
    bucket = "query-" + secrets.token_hex(4)
    server.create_bucket(bucket)
    root = f"s3://{bucket}/lakehouse"
    env = {**local_env(root), **server.env(root)}
    return build(root, env, work, upload=True)


def _app():  # type: ignore[no-untyped-def]
    import typer

    from lakehouse.query.cli import sql_command, trace_command

    app = typer.Typer()
    app.command("sql")(sql_command)
    app.command("trace")(trace_command)
    return app


def _cli(lake: BuiltLakehouse, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    env = {k: v for k, v in lake.env.items() if k.startswith(("AWS_", "LAKEHOUSE_"))}
    return CliRunner().invoke(_app(), [*args, "--root", lake.root], env=env, input=input)


def _duplicate(lake: BuiltLakehouse) -> dict:
    rows = run_query("select record_id, duplicate_of, source_name from conversations where duplicate_of is not null "
                     "order by record_id", lake.storage()).to_pylist()
    assert len(rows) == 2, rows
    return rows[0]


# -- views ------------------------------------------------------------------------------------

def test_every_view_answers(lake, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    st = lake.storage()
    with QuerySession(st, allow_raw=True) as s:
        assert {"conversations", "messages", "quarantine", "releases", "coverage", "landings", "release_records",
                "raw_clinic_notes", "raw_peer_forum", "raw_pair_prefs"} <= set(s.views)
        may_be_empty = {"near_duplicate_removals"}  # this fixture plants exact duplicates only
        for view in s.views:
            n = s.query(f"select count(*) as n from {view}").column("n")[0].as_py()
            assert n >= 0 if view in may_be_empty else n > 0, view
        conv = s.query("select source_name, is_released, duplicate_of from conversations").to_pylist()
        assert len(conv) == 6 + 4 + 3
        dups = [c for c in conv if c["duplicate_of"]]
        assert len(dups) == 2 and all(d["source_name"] == "peer_forum" and not d["is_released"] for d in dups)
        assert all(d["duplicate_of"].startswith("clinic_notes:") for d in dups)
        # messages: one row per turn; preference records give prompt then chosen turns
        turns = s.query("select record_id, turn_index, part, role, kind, split, source_family from messages "
                        "order by record_id, turn_index").to_pylist()
        pref = [t for t in turns if t["kind"] == "preference"]
        assert pref and {t["part"] for t in pref} == {"prompt", "chosen"}
        first = {t["record_id"]: t for t in reversed(pref)}
        assert all(t["turn_index"] == 0 and t["part"] == "prompt" and t["role"] == "user" for t in first.values())
        assert {t["part"] for t in turns if t["kind"] == "sft"} == {"messages"}
        assert all(t["split"] and t["source_family"] for t in turns)
        n_sft = s.query("select sum(len(messages)) as n from conversations where kind = 'sft'").column("n")[0].as_py()
        assert sum(t["kind"] == "sft" for t in turns) == n_sft
        # quarantine: the unparseable line, with its reason
        q = s.query("select record_id, reason_code from quarantine").to_pylist()
        assert any(r["reason_code"] == "invalid_json" and r["record_id"].startswith("clinic_notes:") for r in q)
        # releases: one row per manifest
        rel = s.query("select * from releases").to_pylist()
        assert [r["version"] for r in rel] == [VERSION]
        r = rel[0]
        assert r["records"] == sum(json.loads(r["by_split"]).values()) > 0
        assert r["files"] > 0 and r["git_commit"] and r["created_at"] is not None
        assert r["uri"] == st.uri("exports/releases", VERSION)
        released = s.query("select count(*) as n from conversations where is_released").column("n")[0].as_py()
        assert r["records"] == released
        # raw tables: every landed row, original provenance
        raw = s.query("select count(*) as n, count(distinct file_sha256) as files from raw_clinic_notes").to_pylist()[0]
        assert raw == {"n": 7, "files": 1}
        idx = s.query(f"select count(*) as n from release_records where version = '{VERSION}'")
        assert idx.column("n")[0].as_py() == released


def test_views_do_not_need_dbt_udfs(lake):
    import duckdb

    from lakehouse import duck

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    duck.configure(con, lake.storage().settings)
    views = create_views(con, lake.storage())
    assert "conversations" in views
    sql = " ".join(r[0] for r in con.execute("select sql from duckdb_views() where not internal").fetchall())
    assert "lh_" not in sql and "delta_scan(" in sql
    assert not con.execute("select count(*) from duckdb_functions() where function_name like 'lh_%'").fetchone()[0]
    assert con.execute("select count(*) from messages").fetchone()[0] > 0


@pytest.mark.parametrize("statement, kind", [
    ("insert into conversations select * from conversations", "INSERT"),
    ("create table copy_of as select * from conversations", "CREATE"),
    ("copy conversations to '{tmp}/leak.csv'", "COPY"),
    ("copy (select * from messages) to '{tmp}/leak.parquet' (format parquet)", "COPY"),
    ("attach '{tmp}/other.duckdb' as other", "ATTACH"),
    ("set enable_external_access = false", "SET"),
    ("drop view conversations", "DROP"),
    ("select count(*) from conversations; drop view messages", "DROP"),
    ("select 1; insert into conversations select * from conversations", "INSERT"),
    ("export database '{tmp}/dump'", "EXPORT"),
    ("install httpfs", "INSTALL"),
    ("pragma enable_profiling", "PRAGMA"),
    ("explain analyze copy (select 1) to '{tmp}/x.csv'", "COPY"),
])
def test_write_statements_are_refused(lake, tmp_path, statement, kind):
    sql = statement.format(tmp=tmp_path)
    with pytest.raises(ReadOnlyViolation, match=f"only read-only queries are allowed: got {kind}"):
        run_query(sql, lake.storage())
    assert list(tmp_path.iterdir()) == []
    res = _cli(lake, "sql", sql)
    assert res.exit_code == 2 and f"got {kind}" in res.output
    assert list(tmp_path.iterdir()) == []


# -- sandbox -------------------------------------------------------------------------------------
PROBES = [
    "select * from read_text('/etc/passwd')", "select * from read_csv('/etc/passwd')", "select * from glob('/root/*')",
    "select * from read_blob('/etc/hostname')", "select * from read_text('http://127.0.0.1:9/x')",
    'select * from "duckdb_secrets"()', "select * from \"query\"('select 1')", "select * from '/etc/passwd'",
    'select * from main."read_text"(\'/etc/passwd\')', "select * from query_table('conversations')",
]


@pytest.mark.parametrize("probe", PROBES)
def test_sandbox_probes_are_refused(lake, probe):
    res = _cli(lake, "sql", probe)
    assert res.exit_code == 2 and ("not allowed" in res.output or "only read-only" in res.output), res.output
    assert "root:" not in res.output


def test_engine_confines_the_session_even_without_the_checks(lake, tmp_path, monkeypatch):
    """The statement checks are one layer; DuckDB's own settings are the other (bypassed checks here)."""
    import duckdb

    monkeypatch.setenv("LAKEHOUSE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    st = lake.storage()
    raw_files = st.uri("raw", "clinic_notes") + "/*.parquet"
    quarantine_files = st.uri("quarantine", "records") + "/*.parquet"
    with QuerySession(st) as s:
        assert s.con.execute("select count(*) from conversations").fetchone()[0] > 0   # delta_scan works inside
        for sql in ("select * from read_text('/etc/passwd')", "select * from glob('/root/*')",
                    "select * from read_text('http://127.0.0.1:9/x')", f"select count(*) from read_parquet('{raw_files}')",
                    f"select count(*) from read_parquet('{quarantine_files}')",
                    "select * from read_blob('" + str(REPO_TARGET) + "')"):
            with pytest.raises(duckdb.Error, match="Permission|disabled"):
                s.con.execute(sql).fetchall()
        for setting in ("enable_external_access = true", "allowed_directories = ['/']",
                        "python_enable_replacements = true", "disabled_filesystems = ''"):
            with pytest.raises(duckdb.Error, match="locked"):
                s.con.execute(f"set {setting}")
        cols = s.columns("quarantine")
        assert "raw_record" not in cols and "quarantine_reason" not in cols and "source_key" not in cols
        assert {"record_id", "reason_code", "source_name", "file_sha256", "row_number"} <= set(cols)
        assert "source_key" not in s.columns("landings") and "rows_read" in s.columns("landings")
    with QuerySession(st, allow_raw=True) as s:
        assert s.con.execute(f"select count(*) from read_parquet('{raw_files}')").fetchone()[0] == 7
        with pytest.raises(duckdb.Error, match="Permission|disabled"):
            s.con.execute("select * from read_text('/etc/passwd')").fetchall()


def test_raw_text_needs_allow_raw_and_is_logged(lake, tmp_path, monkeypatch):
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("LAKEHOUSE_AUDIT_LOG", str(log))
    env = {"LAKEHOUSE_AUDIT_LOG": str(log)}
    res = _cli(lake, "sql", "select count(*) from raw_clinic_notes")
    assert res.exit_code == 1 and "--allow-raw" in res.output
    res = _cli(lake, "sql", "select raw_record from quarantine")
    assert res.exit_code == 1 and "--allow-raw" in res.output
    # ids, reason codes, provenance and counts stay queryable without it
    res = _cli(lake, "sql", "select reason_code, source_name, count(*) as n from quarantine group by all", "-f", "json")
    assert res.exit_code == 0 and "invalid_json" in res.output
    assert not log.exists()
    from typer.testing import CliRunner

    cli_env = {k: v for k, v in lake.env.items() if k.startswith(("AWS_", "LAKEHOUSE_"))} | env
    res = CliRunner().invoke(_app(), ["sql", "select r.record, q.raw_record from raw_clinic_notes r, quarantine q "
                                             "limit 1", "--allow-raw", "--root", lake.root], env=cli_env)
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["views"] == ["quarantine", "raw_clinic_notes"]
    assert recs[0]["user"] and recs[0]["at"] and TEXT_PHRASE not in log.read_text() and "select" not in log.read_text()
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    res = CliRunner().invoke(_app(), ["sql", "select count(*) from conversations", "--allow-raw", "--root", lake.root],
                             env=cli_env)
    assert res.exit_code == 0 and len(log.read_text().splitlines()) == 1   # no raw view read: nothing to log


def test_configuration_is_locked(lake):
    with QuerySession(lake.storage()) as s:
        with pytest.raises(Exception, match="locked"):
            s.con.execute("set enable_external_access = false")   # even bypassing the statement check


# -- output ---------------------------------------------------------------------------------------
def test_cli_table_and_files(lake, tmp_path):
    res = _cli(lake, "sql", "select record_id, split from conversations order by record_id", "--max-rows", "3")
    assert res.exit_code == 0, res.output
    assert "record_id" in res.output and "13 rows (first 3 shown" in res.output
    for fmt in ("csv", "json", "parquet"):
        out = tmp_path / f"messages.{fmt}"
        res = _cli(lake, "sql", "select * from messages", "--format", fmt, "--output", str(out))
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 0
    import pyarrow.parquet as pq

    n = pq.read_table(tmp_path / "messages.parquet").num_rows
    assert n == len((tmp_path / "messages.json").read_text().splitlines()) == \
        len((tmp_path / "messages.csv").read_text().splitlines()) - 1
    res = _cli(lake, "sql", "select version, records from releases", "--format", "json")
    assert res.exit_code == 0 and json.loads(res.output.strip())["version"] == VERSION


def test_repl(lake):
    from rich.console import Console

    from lakehouse.query.cli import run_repl

    lines = iter([".tables", "select count(*) as n", "from conversations;", "drop view messages;", ".schema messages",
                  ".quit", "select 'never reached';"])
    console = Console(record=True, width=200)
    with QuerySession(lake.storage()) as s:
        run_repl(s, console, read=lambda prompt: next(lines))
    out = console.export_text()
    assert "raw_clinic_notes" not in out and "messages" in out   # raw views only with --allow-raw
    assert "13" in out and "got DROP" in out and "turn_index" in out and "never reached" not in out


def test_missing_tables_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    from lakehouse.config import Settings
    from lakehouse.landing import land
    from lakehouse.storage import Storage
    from test_query_support import write_inputs

    st = Storage(Settings.from_env(env=local_env(str(tmp_path / "empty"))))
    with pytest.raises(MissingView, match="--allow-raw"):   # raw text is asked for first
        run_query("select * from raw_clinic_notes", st)
    with pytest.raises(MissingView, match="lakehouse land"):
        run_query("select * from raw_clinic_notes", st, allow_raw=True)
    with pytest.raises(MissingView, match="dbt build --select release"):
        run_query("select * from conversations", st)
    with pytest.raises(MissingView, match="lakehouse land"):
        write_attach_db(tmp_path / "empty.duckdb", st)
    # landed but not built: raw views exist, curated ones still point to dbt
    land([str(write_inputs(tmp_path / "in")["clinic"])], source="clinic_notes", family="mental_health_datasets",
         license_tag="CC0-1.0", storage=st)
    with pytest.raises(MissingView, match="--allow-raw"):
        run_query("select count(*) as n from raw_clinic_notes", st)
    assert run_query("select count(*) as n from raw_clinic_notes", st, allow_raw=True).column("n")[0].as_py() == 7
    with pytest.raises(MissingView, match="dbt build --select release"):
        run_query("select * from messages", st)
    with pytest.raises(QueryError):
        run_query("select * from no_such_table", st)


# -- trace ----------------------------------------------------------------------------------------
def test_trace_of_a_duplicate_names_the_survivor_and_both_sources(lake):
    dup = _duplicate(lake)
    t = trace_record(lake.storage(), dup["record_id"])
    assert t["match"] == "record_id" and len(t["records"]) == 1
    rec = t["records"][0]
    assert rec["status"] == "duplicate" and rec["is_released"] is False
    assert rec["source"]["name"] == "peer_forum" and rec["source"]["family"] == "roleplay_simulator"
    assert rec["source"]["license"] == "Apache-2.0" and rec["source"]["row_number"] == 1
    assert rec["source"]["line_number"] == 1 and len(rec["source"]["file_sha256"]) == 64
    assert rec["landing"]["landing_id"] and rec["landing"]["landed_at"] and rec["landing"]["shape"] == "chatml"
    steps = {s["step"]: s for s in rec["transformations"]}
    assert {"landed", "shape_detected", "converted", "repaired", "dedup", "released"} <= set(steps)
    dedup = steps["dedup"]
    assert dedup["decision"] == "duplicate" and dedup["duplicate_of"] == dup["duplicate_of"]
    surv = dedup["survivor"]
    assert surv["record_id"] == dup["duplicate_of"] and surv["is_released"] is True
    assert surv["source"]["name"] == "clinic_notes" and surv["source"]["family"] == "mental_health_datasets"
    assert surv["source"]["license"] == "CC0-1.0" and surv["landing"]["landing_id"] != rec["landing"]["landing_id"]
    assert steps["released"]["releases"] == []
    assert [r["version"] for r in steps["released"]["content_released_as"]] == [VERSION]
    assert TEXT_PHRASE not in json.dumps(t)

    res = _cli(lake, "trace", dup["record_id"])
    assert res.exit_code == 0, res.output
    assert dup["duplicate_of"] in res.output and "peer_forum" in res.output and "clinic_notes" in res.output
    assert "survivor's provenance" in res.output and TEXT_PHRASE not in res.output
    res = _cli(lake, "trace", dup["record_id"], "--json")
    assert res.exit_code == 0 and json.loads(res.output)["records"][0]["record_id"] == dup["record_id"]


def test_trace_by_content_hash_shows_every_copy(lake):
    dup = _duplicate(lake)
    h = run_query(f"select content_hash from conversations where record_id = '{dup['duplicate_of']}'",
                  lake.storage()).column("content_hash")[0].as_py()
    for arg in (h, h[:12]):
        t = trace_record(lake.storage(), arg)
        assert t["match"] == "content_hash" and t["value"] == h
        assert t["survivor"] == dup["duplicate_of"]
        by_id = {r["record_id"]: r for r in t["records"]}
        assert set(by_id) == {dup["record_id"], dup["duplicate_of"]}
        assert {r["source"]["name"] for r in t["records"]} == {"clinic_notes", "peer_forum"}
        surv = by_id[dup["duplicate_of"]]
        assert surv["status"] == "released" and [r["version"] for r in surv["releases"]] == [VERSION]
        step = next(s for s in surv["transformations"] if s["step"] == "dedup")
        assert step["decision"] == "survivor" and [d["record_id"] for d in step["duplicates"]] == [dup["record_id"]]


def test_trace_details_quarantine_repairs_and_text(lake):
    st = lake.storage()
    q = run_query("select record_id from quarantine where reason_code = 'invalid_json'", st).to_pylist()[0]
    rec = trace_record(st, q["record_id"])["records"][0]
    assert rec["status"] == "quarantined" and rec["source"]["line_number"] == 5
    assert any(s["step"] == "quarantined" and s["reason_code"] == "invalid_json" for s in rec["transformations"])
    repaired = run_query("select record_id from conversations where repairs like '%mojibake%'", st).to_pylist()
    assert repaired
    rec = trace_record(st, repaired[0]["record_id"], show_text=True)["records"][0]
    assert next(s for s in rec["transformations"] if s["step"] == "repaired")["repairs"].get("mojibake", 0) >= 1
    assert any(TEXT_PHRASE in m["content"] for m in rec["content"]["messages"])
    assert "\u00e2\u20ac" not in json.dumps(rec["content"], ensure_ascii=False)   # the curated, repaired text
    res = _cli(lake, "trace", repaired[0]["record_id"], "--show-text")
    assert res.exit_code == 0 and TEXT_PHRASE in res.output
    # privacy: the planted e-mail address was redacted; the trace counts it by type, never shows it
    with QuerySession(st) as s:
        has_pii_column = "pii_redactions" in s.columns("conversations")
    if has_pii_column:
        red = run_query("select record_id from conversations where pii_redactions like '%EMAIL%'", st).to_pylist()
        assert len(red) == 1
        t = trace_record(st, red[0]["record_id"], show_text=True)
        step = next(s for s in t["records"][0]["transformations"] if s["step"] == "privacy")
        assert step["redactions"] == {"EMAIL_ADDRESS": 1} and step["pii_status"] == "redacted"
        assert "jane.doe@example.org" not in json.dumps(t)
    with pytest.raises(TraceNotFound):
        trace_record(st, "clinic_notes:000000000000:99")
    assert _cli(lake, "trace", "f" * 64).exit_code == 1


# -- attach ---------------------------------------------------------------------------------------
def test_attach_file_opens_in_a_fresh_connection(lake, tmp_path):
    import duckdb

    from lakehouse import duck

    path = tmp_path / "lake.duckdb"
    res = _cli(lake, "sql", "--attach", str(path), "--allow-raw")
    assert res.exit_code == 0, res.output
    assert "duckdb -readonly" in res.output and str(path) in res.output
    con = duckdb.connect(str(path), read_only=True,
                         config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    duck.load_extensions(con)
    if lake.storage().is_s3:
        con.execute(duck.s3_secret_sql(lake.storage().settings))
    views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
    assert {"conversations", "messages", "quarantine", "releases", "raw_peer_forum"} <= views
    assert con.execute("select count(*) from conversations where duplicate_of is not null").fetchone()[0] == 2
    assert con.execute("select count(*) from messages where part = 'chosen'").fetchone()[0] == 3
    assert con.execute("select version from releases").fetchall() == [(VERSION,)]
    assert not con.execute("select count(*) from duckdb_secrets() where persistent").fetchone()[0]
    con.close()
    secret = lake.storage().settings.s3.secret_access_key
    if secret:
        assert secret.encode() not in path.read_bytes()   # no credentials stored in the file


def test_trace_shows_scores_and_the_failed_threshold(lake):
    st = lake.storage()
    rid = run_query("select record_id from conversations where is_released order by record_id limit 1", st).to_pylist()[0]
    rec = trace_record(st, rid["record_id"])["records"][0]
    scored = next(s for s in rec["transformations"] if s["step"] == "scored")
    assert {"empathy", "empathy_mechanisms", "coherence", "crisis_disclosure", "harmful_response"} <= set(scored["quality"])
    assert "failed" not in scored
    res = _cli(lake, "trace", rid["record_id"])
    assert res.exit_code == 0 and "empathy" in res.output and "coherence" in res.output
    low = run_query("select record_id, reason_code from quarantine where reason_code like 'quality:%' "
                    "or reason_code like 'safety:%' order by record_id limit 1", st).to_pylist()
    if low:   # the fixture's low-empathy replies: the trace names the threshold the record failed
        rec = trace_record(st, low[0]["record_id"])["records"][0]
        scored = next(s for s in rec["transformations"] if s["step"] == "scored")
        assert scored["failed"]["reason_code"] == low[0]["reason_code"] and scored["failed"]["threshold"]
        assert scored["quality"] is not None
