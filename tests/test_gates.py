"""The eight release gates fail closed: a fixture that violates a gate fails `dbt build --select
release` with a message naming the gate, and nothing is published; the clean fixture passes.

Gates that the pipeline makes impossible to violate from raw data (hash, split, stats: the
pipeline computes the very values they check) are exercised by tampering with the built table
and re-running the gate, which proves the check itself detects the violation.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from lakehouse.export import list_releases
from lakehouse.landing import land
from lakehouse.storage import Storage
from lakehouse.synth import generate_corpus, write_jsonl
from pipeline_helpers import run_dbt as _run_dbt

# the fixtures land two families; the other Release-0 families (stages 2-4) are waived
RELEASE0_OTHERS = ["cot_reasoning", "edge_case_generator", "voice_persona"]


def run_dbt(work, *args, vars=None, **kw):  # type: ignore[no-untyped-def]
    if vars is not None and kw.get("command", "build") == "build":
        vars = {**vars, "coverage_waivers": sorted(set(vars.get("coverage_waivers", [])) | set(RELEASE0_OTHERS))}
    return _run_dbt(work, *args, vars=vars, **kw)

pytestmark = pytest.mark.dbt
GATES = ["coverage", "leakage", "distribution", "quality", "pii", "provenance", "hash", "split", "stats"]


def therapy(i: int, extra: str = "") -> dict:
    return {"messages": [
        {"role": "user", "content": f"Session {i}: I have been struggling to sleep and my thoughts race about work item {i}. {extra}".strip()},
        # empathic replies (the family's quality thresholds), with the numbers repeated so that
        # records stay below the near-duplicate threshold of one another
        {"role": "assistant", "content": f"That sounds exhausting {i} nights in, and it makes sense {i} feels heavy. "
                                         f"What goes through your mind about item {i} at {i} o'clock?"},
        {"role": "user", "content": f"Mostly deadlines number {i * 7 % 13} and whether I am good enough."},
        {"role": "assistant", "content": f"It sounds like item {i} carries {i} kinds of pressure and you worry about being "
                                         f"good enough. How does deadline {i * 7 % 13} leave you feeling on night {i}?"},
    ]}


def land_clean(tmp: Path, n: int = 60) -> None:
    a = tmp / "in" / "mh.jsonl"
    a.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(a, [therapy(i) for i in range(n)])
    b = tmp / "in" / "rp.jsonl"
    write_jsonl(b, [therapy(1000 + i) for i in range(20)])
    land([str(a)], source="mh", family="mental_health_datasets", license_tag="MIT")
    land([str(b)], source="rp", family="roleplay_simulator", license_tag="MIT")


def gate_results(work: Path) -> dict[str, str]:
    res = json.loads((work / "target" / "run_results.json").read_text())
    out = {}
    for r in res["results"]:
        uid = r["unique_id"]
        for g in GATES:
            if uid.startswith(f"test.lakehouse.gate_{g}_"):
                out[g] = r["status"]
    return out


def assert_gate_failed(res, gate: str) -> None:
    assert not res.ok, f"build passed although gate {gate} should fail"
    assert f"Failure in test gate_{gate}_release_conversations" in res.output, res.output[-3000:]
    assert "Got " in res.output  # dbt reports the violation count


def assert_nothing_published() -> None:
    st = Storage.from_env()
    assert list_releases(st) == []
    assert not Path(st.root, "exports").exists() or not any(Path(st.root, "exports").rglob("manifest.json"))


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    mp = pytest.MonkeyPatch()
    for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATASET_STORAGE_BACKEND"):
        mp.delenv(k, raising=False)
    mp.setenv("LAKEHOUSE_ROOT", str(tmp / "lake"))
    land_clean(tmp)
    work = tmp / "work"
    res = run_dbt(work, vars={"release_version": "v-clean", "holdout_sources": ["rp"]})
    yield tmp, work, res
    mp.undo()


def test_clean_fixture_passes_every_gate(clean_build, monkeypatch):
    tmp, work, res = clean_build
    assert res.ok, res.output[-4000:]
    assert gate_results(work) == {g: "pass" for g in GATES}
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp / "lake"))
    assert list_releases(Storage.from_env()) == ["v-clean"]
    # holdout source (var) went to test only
    con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
    assert con.execute("select distinct split from release_conversations where source_name = 'rp'").fetchall() == [("test",)]


def _retest(work: Path, tmp: Path, gate: str, sql: str) -> tuple[bool, str]:
    """Tamper with the built database, then re-run one gate against it."""
    db = str(work / "lakehouse.duckdb")
    con = duckdb.connect(db)
    con.execute(sql)
    con.close()
    res = run_dbt(work, command="test", select=f"gate_{gate}_release_conversations*",
                  env={"LAKEHOUSE_ROOT": str(tmp / "lake")}, vars={"holdout_sources": ["rp"]})
    return res.ok, res.output


def test_gate_hash_detects_a_wrong_hash(clean_build):
    tmp, work, _ = clean_build
    ok, out = _retest(work, tmp, "hash", "update release_conversations set content_hash = sha256('tampered') "
                                         "where record_id = (select min(record_id) from release_conversations)")
    assert not ok and "Failure in test gate_hash_release_conversations" in out and "Got 1 result" in out


def test_gate_split_detects_a_holdout_outside_test(clean_build):
    tmp, work, _ = clean_build
    ok, out = _retest(work, tmp, "split", "update release_conversations set split = 'train' "
                                          "where record_id = (select min(record_id) from release_conversations where source_name = 'rp')")
    assert not ok and "Failure in test gate_split_release_conversations" in out and "Got 1 result" in out


def test_gate_stats_detects_missing_statistics(clean_build):
    tmp, work, _ = clean_build
    ok, out = _retest(work, tmp, "stats", "delete from release_stats where family = 'roleplay_simulator'")
    assert not ok and "Failure in test gate_stats_release_conversations" in out


def test_gate_coverage_missing_required_family_then_waived(local_root, tmp_path):
    f = tmp_path / "rp.jsonl"
    write_jsonl(f, [therapy(i) for i in range(10)])
    land([str(f)], source="rp", family="roleplay_simulator", license_tag="MIT")
    res = run_dbt(tmp_path / "w1", vars={"release_version": "v1"})
    assert_gate_failed(res, "coverage")
    assert_nothing_published()
    res = run_dbt(tmp_path / "w2", vars={"release_version": "v1", "coverage_waivers": ["mental_health_datasets"]})
    assert res.ok, res.output[-3000:]


def test_gate_leakage_near_duplicates_split_apart(local_root, tmp_path):
    # keep near duplicates and split each record on its own hash: clusters straddle splits
    recs = [r for r in generate_corpus(300, seed=3, exact_dup_rate=0.0, near_dup_rate=0.3, cross_family_rate=0.0)]
    f = tmp_path / "corpus.jsonl"
    write_jsonl(f, [{"messages": r["messages"]} for r in recs])
    # cptsd: no empathy threshold, so the templated synthetic sessions reach the release
    land([str(f)], source="synth", family="cptsd", license_tag="CC0-1.0")
    res = run_dbt(tmp_path / "w", vars={"release_version": "v1", "near_dedup_remove": False, "split_key": "content_hash",
                                        "distribution_min_records": 100000, "pii_residual_scan": False,
                                        "coverage_waivers": ["mental_health_datasets"]})
    assert_gate_failed(res, "leakage")
    assert_nothing_published()


def test_gate_distribution_out_of_tolerance(local_root, tmp_path):
    land_clean(tmp_path)
    res = run_dbt(tmp_path / "w", vars={"release_version": "v1", "distribution_tolerance": 0.001,
                                        "distribution_min_records": 10})
    assert_gate_failed(res, "distribution")
    assert_nothing_published()


def test_gate_pii_requires_review(local_root, tmp_path):
    f = tmp_path / "pii.jsonl"
    rows = [therapy(i) for i in range(20)]
    rows[3]["messages"][0]["content"] += " My card 4111 1111 1111 1111 was declined again."
    write_jsonl(f, rows)
    land([str(f)], source="mh", family="mental_health_datasets", license_tag="MIT")
    res = run_dbt(tmp_path / "w", vars={"release_version": "v1"})
    assert_gate_failed(res, "pii")
    assert_nothing_published()


def test_gate_provenance_missing_landing_id(local_root, tmp_path):
    # a raw table written by something other than `lakehouse land`, without a landing id
    import pyarrow as pa
    from deltalake import write_deltalake

    from lakehouse.landing.schema import RAW_SCHEMA

    good = tmp_path / "mh.jsonl"
    write_jsonl(good, [therapy(i) for i in range(10)])
    land([str(good)], source="mh", family="mental_health_datasets", license_tag="MIT")
    loose = pa.schema([f.with_nullable(True) for f in RAW_SCHEMA])
    row = {"landing_id": None, "landed_at": None, "source_name": "handmade", "source_family": "mental_health_datasets",
           "license_tag": "MIT", "source_key": "/somewhere/handmade.jsonl", "file_sha256": "0" * 64, "file_bytes": 1,
           "row_number": 1, "line_number": 1, "input_format": "jsonl", "shape": "chatml", "shape_options": "{}",
           "is_edge_case": False, "record": json.dumps(therapy(999)), "parse_error": None}
    write_deltalake(Storage.from_env().uri("raw", "handmade"), pa.Table.from_pylist([row], schema=loose))
    res = run_dbt(tmp_path / "w", vars={"release_version": "v1"})
    assert_gate_failed(res, "provenance")
    assert_nothing_published()
