"""Per-record bias signals as a cached engine stage (int_record_bias), the stage-1 bias limit
(registry max_bias_score -> quality:bias), reports/bias.json from the per-record columns, and the
bias section of reports/index.html."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pyarrow as pa
import pytest

from pipeline_helpers import REPO, release_files, run_dbt
from test_bias_report import bundled_records

STEREOTYPE = "Honestly, women are so dramatic about deadlines."


def _canonical_features(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine stage's columns for each record (what int_record_bias caches)."""
    from lakehouse.engine.stages import bias_flags_batch
    from lakehouse.record import MESSAGES_TYPE

    cols: dict[str, Any] = {c: pa.array([r.get(c) for r in records], MESSAGES_TYPE)
                            for c in ("messages", "prompt", "chosen", "rejected")}
    cols["text"] = pa.array([r.get("text") for r in records], pa.string())
    return bias_flags_batch(pa.RecordBatch.from_pydict(cols)).to_pylist()


# -- the stage ---------------------------------------------------------------------------------------
def test_stage_is_a_function_of_the_canonical_record() -> None:
    from lakehouse.engine.stages import bias_flags_batch
    from lakehouse.review.bias import bias_schema

    convs = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Women are so dramatic."}],
             [{"role": "user", "content": "hi  "}, {"role": "assistant", "content": "Women   are so\r\ndramatic."}],
             [{"role": "user", "content": "I feel low."}, {"role": "assistant", "content": "What happened today?"}]]
    out = bias_flags_batch(pa.RecordBatch.from_pydict({"messages": convs, "kind": ["sft"] * 3})).to_pylist()
    assert len(out) == 3 and list(out[0]) == bias_schema().names
    assert out[0]["stereotype_flags"] == ["gender:women"] and out[0]["bias_score"] == 1.0
    assert out[1]["stereotype_flags"] == out[0]["stereotype_flags"]   # whitespace variants: same dedup_hash, same flags
    assert out[2]["stereotype_flags"] == [] and out[2]["bias_score"] == 0.0


def test_fingerprint_follows_the_lexicon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.engine.stages import bias_fingerprint, minhash_fingerprint, pii_fingerprint, quality_fingerprint

    base = bias_fingerprint()
    others = (quality_fingerprint(), pii_fingerprint(), minhash_fingerprint())
    assert bias_fingerprint() == base
    text = (REPO / "lakehouse" / "config" / "bias.yml").read_text(encoding="utf-8")
    (tmp_path / "bias.yml").write_text(text.replace("negative_attributes: [lazy,", "negative_attributes: [grumpy, lazy,"),
                                       encoding="utf-8")
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(tmp_path))
    assert bias_fingerprint() != base                     # a lexicon change recomputes bias ...
    assert (quality_fingerprint(), pii_fingerprint(), minhash_fingerprint()) == others   # ... and nothing else


# -- the policy macro ----------------------------------------------------------------------------------
def _macro(name: str) -> str:
    text = (REPO / "macros/gates/gate_quality.sql").read_text(encoding="utf-8")
    body = re.search(r"({% macro " + name + r".*?{% endmacro %})", text, re.S)
    assert body
    return body.group(1)


def test_bias_reason_macro() -> None:
    sql = jinja2.Environment().from_string(_macro("bias_quarantine_reason")
                                           + "{{ bias_quarantine_reason('s.', 's.') }}").render()
    con = duckdb.connect()
    con.execute("""create table s as select * from (values
        ('flagged', null, false, 0.5, ['gender:women'], 0.2),
        ('clean', null, false, 0.0, []::varchar[], 0.2),
        ('at_limit', null, false, 0.2, ['age:older'], 0.2),
        ('edge', null, true, 1.0, ['gender:women'], 0.2),
        ('no_limit', null, false, 1.0, ['gender:women'], null),
        ('kto_undesirable', false, false, 1.0, ['gender:women'], 0.2),
        ('missing', null, false, null, null, 0.2))
        t(i, label, is_training_edge_case, bias_score, stereotype_flags, max_bias_score)""")
    got = dict(con.execute(f"select i, {sql} from s").fetchall())
    assert got == {"flagged": "quality:bias 0.5 > 0.2 (gender:women)", "clean": None, "at_limit": None, "edge": None,
                   "no_limit": None, "kto_undesirable": None, "missing": "quality:bias missing"}


def test_gate_quality_fails_a_released_biased_record_unless_a_clinician_released_it() -> None:
    text = (REPO / "macros/gates/gate_quality.sql").read_text(encoding="utf-8")
    body = re.search(r"{% test gate_quality\(model, registry, family_column='source_family'\) %}(.*?){% endtest %}", text, re.S)
    assert body
    sql = jinja2.Environment().from_string(_macro("quality_quarantine_reason") + _macro("bias_quarantine_reason")
                                           + body.group(1)).render(model="m", registry="r", family_column="source_family")
    con = duckdb.connect()
    con.execute("""create table r as select * from (values ('mh', 0.5, 0.2), ('edge', null, null))
                   t(family, min_crisis_handling, max_bias_score)""")
    con.execute("alter table r add column min_empathy double; alter table r add column min_coherence double")
    con.execute("alter table r add column min_reasoning_completeness double")
    con.execute("alter table r add column min_preference_margin double")
    con.execute("""create table m as select * from (values
        ('biased', 'mh', false, 0.5, ['gender:women'], null),
        ('biased_released_by_review', 'mh', false, 0.5, ['gender:women'], 'decision-1'),
        ('edge_biased', 'edge', true, 1.0, ['gender:women'], null),
        ('clean', 'mh', false, 0.0, []::varchar[], null))
        t(record_id, source_family, is_training_edge_case, bias_score, stereotype_flags, review_release_decision_id)""")
    for col, typ, val in (("kind", "varchar", "'sft'"), ("label", "boolean", "null"), ("harmful_response", "boolean", "false"),
                          ("toxic_assistant", "boolean", "false"), ("crisis_disclosure", "boolean", "false"),
                          ("crisis_categories", "varchar[]", "[]::varchar[]"), ("crisis_handling", "double", "null"),
                          ("empathy", "double", "0.9"), ("coherence", "double", "0.9"),
                          ("reasoning_completeness", "double", "null"), ("preference_margin", "double", "null")):
        con.execute(f"alter table m add column {col} {typ} default {val}")
    assert dict(con.execute(sql).fetchall()) == {"biased": "quality:bias 0.5 > 0.2 (gender:women)"}


def test_registry_bias_limit_is_stage_one_only() -> None:
    with open(REPO / "seeds/release/dataset_registry.csv", newline="") as f:
        reg = {r["family"]: r for r in csv.DictReader(f)}
    for fam, r in reg.items():
        want = "0.2" if r["sft_stage"] == "1" and r["is_edge_case"] == "false" else ""
        assert r["max_bias_score"] == want, fam
    assert all(r["max_bias_score"] == "" for r in reg.values() if r["is_edge_case"] == "true")


# -- the report from per-record columns ------------------------------------------------------------------
def test_report_from_features_equals_the_rescan_on_bundled_samples(records: list[dict[str, Any]]) -> None:
    from lakehouse.review.bias import bias_report

    old = bias_report(records)                                   # the exporter's former re-scan of every text
    feats = _canonical_features([{k: r.get(k) for k in ("messages", "prompt", "chosen", "rejected", "text")}
                                 for r in records])
    groups: Counter[str] = Counter()
    for r, f in zip(records, feats):
        key = {"family": r["metadata"]["family"], "split": r["metadata"]["split"],
               **{k: f[k] for k in ("group_mentions", "stereotype_flags", "bias_score", "language")}}
        groups[json.dumps(key, sort_keys=True)] += 1
    rows = [{**json.loads(k), "record_count": n} for k, n in sorted(groups.items())]
    assert len(rows) < len(records)                              # grouped: fewer rows than records
    new = bias_report(rows)
    assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)


# -- the HTML report ---------------------------------------------------------------------------------------
def test_html_bias_section(records: list[dict[str, Any]]) -> None:
    from lakehouse.export.report import bias_section
    from lakehouse.review.bias import bias_report

    mh = [r for r in records if r["metadata"]["family"] == "mental_health_datasets"]
    flagged = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": STEREOTYPE}],
               "metadata": {"family": "mental_health_datasets", "split": "train"}}
    base = bias_report(mh, release="v-old")
    rep = bias_report(records + [flagged] * 3, base)
    html = "\n".join(bias_section(rep))
    assert 'id="bias"' in html and 'data-table="bias-by-family"' in html and 'data-table="bias-languages"' in html
    assert 'data-plot="bias-mentions"' in html and 'data-plot="bias-stereotyping"' in html
    assert 'data-table="bias-baseline"' in html and "v-old" in html
    assert "<td>mental_health_datasets</td>" in html and "<td>en</td>" in html
    assert "dramatic" not in html and "Human:" not in html                   # numbers only, never text
    assert "\n".join(bias_section(rep)) == html                                # deterministic
    none = "\n".join(bias_section(bias_report(mh)))
    assert 'id="bias-no-baseline"' in none
    assert 'id="bias-empty"' in "\n".join(bias_section(None))


# -- a dbt build -------------------------------------------------------------------------------------------
def therapy(i: int, extra: str = "") -> dict[str, Any]:
    """Empathic replies that pass the stage-1 thresholds (as in test_gates), with the numbers varied so
    records stay below the near-duplicate threshold of one another; ``extra`` ends the last reply."""
    return {"messages": [
        {"role": "user", "content": f"Session {i}: I have been struggling to sleep and my thoughts race about work item {i}."},
        {"role": "assistant", "content": f"That sounds exhausting {i} nights in, and it makes sense {i} feels heavy. "
                                         f"What goes through your mind about item {i} at {i} o'clock?"},
        {"role": "user", "content": f"Mostly deadlines number {i * 7 % 13} and whether I am good enough."},
        {"role": "assistant", "content": f"It sounds like item {i} carries {i} kinds of pressure and you worry about being "
                                         f"good enough. How does deadline {i * 7 % 13} leave you feeling on night {i}? "
                                         f"{extra}".strip()},
    ]}


def _waivers() -> list[str]:
    with open(REPO / "seeds" / "release" / "dataset_registry.csv", newline="") as f:
        return sorted(r["family"] for r in csv.DictReader(f) if r["family"] != "mental_health_datasets")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return bundled_records()


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from lakehouse.landing import land
    from lakehouse.synth import write_jsonl

    base = tmp_path_factory.mktemp("bias_build")
    root, cache = str(base / "lakehouse"), str(base / "cache")
    env = {"LAKEHOUSE_ROOT": root, "LAKEHOUSE_CACHE_ROOT": cache}
    flagged = [therapy(900 + i, STEREOTYPE) for i in range(2)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKEHOUSE_ROOT", root)
        mp.setenv("LAKEHOUSE_CACHE_ROOT", cache)
        for k in ("AWS_ENDPOINT_URL", "OVH_S3_ENDPOINT", "DATASET_STORAGE_BACKEND"):
            mp.delenv(k, raising=False)
        (base / "in").mkdir()
        write_jsonl(base / "in" / "mh.jsonl", [therapy(i) for i in range(12)] + flagged)
        write_jsonl(base / "in" / "edge.jsonl", flagged)
        land([str(base / "in" / "mh.jsonl")], source="mh", family="mental_health_datasets", license_tag="MIT")
        land([str(base / "in" / "edge.jsonl")], source="edge", family="edge_case_synthetic", license_tag="MIT")
    work = base / "b1"
    res = run_dbt(work, vars={"release_version": "v1", "coverage_waivers": _waivers()}, env=env)
    assert res.ok, res.output[-5000:]
    from deltalake import DeltaTable

    cache_uri = str(Path(cache) / "cache" / "bias_flags")
    v_before = DeltaTable(cache_uri).version()
    rows_before = DeltaTable(cache_uri).to_pyarrow_table().num_rows
    # a second build of the stage over the same records computes nothing: the cache table is untouched
    res2 = run_dbt(work, select="int_record_bias", env=env)
    assert res2.ok, res2.output[-5000:]
    return {"root": root, "work": work, "files": release_files(root, "v1"), "cache_uri": cache_uri,
            "v_before": v_before, "rows_before": rows_before}


def _db(work: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.dbt
def test_stage_is_cached_and_the_column_is_queryable(build: dict[str, Any]) -> None:
    from deltalake import DeltaTable

    dt = DeltaTable(build["cache_uri"])
    assert dt.version() == build["v_before"] and dt.to_pyarrow_table().num_rows == build["rows_before"] > 0
    names = dt.to_pyarrow_table().column_names
    assert {"key", "fingerprint", "stereotype_flags", "bias_score"} <= set(names)
    assert not {"text", "messages", "content"} & set(names)                    # flags and labels, never text
    n_keys = _db(build["work"], "select count(*) from main.int_record_bias")[0][0]
    assert n_keys == build["rows_before"]              # one cached row per distinct record content
    from lakehouse.engine.gc import gc, status
    from lakehouse.storage import Storage

    cache_storage = Storage.from_env(str(Path(build["cache_uri"]).parents[1]))
    st = {s.stage: s for s in status(cache_storage)}["bias_flags"]
    assert st.current is not None and st.fingerprints == {st.current: n_keys}
    kept = {r.stage: r for r in gc(cache_storage, dry_run=True)}["bias_flags"]
    assert kept.rows_after == kept.rows_before == n_keys    # `lakehouse cache gc` keeps what the build used
    rows = _db(build["work"], "select source_family, is_released, stereotype_flags, bias_score from main.conversations "
                              "where len(stereotype_flags) > 0 order by 1")
    assert rows and all(r[0] == "edge_case_synthetic" and r[1] and r[2] == ["gender:women"] for r in rows)
    # the curated table `lakehouse sql` reads carries the column
    from lakehouse.query import run_query
    from lakehouse.storage import Storage

    got = run_query("select family, count(*) filter (where len(stereotype_flags) > 0) as flagged, "
                    "count(*) filter (where bias_score is null) as unscored from conversations where is_released "
                    "group by 1 order by 1", Storage.from_env(build["root"])).to_pylist()
    assert got == [{"family": "edge_case_synthetic", "flagged": 2, "unscored": 0},
                   {"family": "mental_health_datasets", "flagged": 0, "unscored": 0}]


@pytest.mark.dbt
def test_stage_one_record_quarantined_edge_case_released(build: dict[str, Any]) -> None:
    from deltalake import DeltaTable

    q = DeltaTable(str(Path(build["root"]) / "quarantine" / "records")).to_pyarrow_table().to_pylist()
    bias_q = [r for r in q if r["reason_code"] == "quality:bias"]
    assert len(bias_q) == 2 and {r["source_family"] for r in bias_q} == {"mental_health_datasets"}
    assert all(r["quarantine_reason"] == "quality:bias 0.5 > 0.2 (gender:women)" for r in bias_q)
    assert not [r for r in q if r["source_name"] == "mh" and r["reason_code"] != "quality:bias"]   # the rest pass
    lines = [json.loads(line) for k, v in build["files"].items() if k.startswith("shards/")
             for line in v.decode().splitlines()]
    edge = [r for r in lines if r["metadata"]["source_family"] == "edge_case_synthetic"]
    assert len(edge) == 2 and all(r["metadata"]["bias"]["stereotype_flags"] == ["gender:women"] for r in edge)
    assert all(r["metadata"]["bias"]["bias_score"] == 0.5 and r["metadata"]["bias"]["language"] == "en" for r in edge)
    assert len([r for r in lines if r["metadata"]["source_family"] == "mental_health_datasets"]) == 12


@pytest.mark.dbt
def test_release_bias_report_equals_the_rescan_and_is_in_the_html(build: dict[str, Any]) -> None:
    from lakehouse.review.bias import REPORT_FORMAT, bias_report

    files = build["files"]
    got = json.loads(files["reports/bias.json"])
    lines = [json.loads(line) for k, v in sorted(files.items()) if k.startswith("shards/")
             for line in v.decode().splitlines()]
    for r in lines:       # the former exporter: every released text scanned again
        r["metadata"].pop("bias")
    assert got == bias_report(lines) and got["format"] == REPORT_FORMAT
    assert got["stereotyping"]["by_family"]["edge_case_synthetic"]["records_flagged"] == 2
    html = files["reports/index.html"].decode()
    assert 'id="bias"' in html and 'data-plot="bias-stereotyping"' in html and "dramatic" not in html
