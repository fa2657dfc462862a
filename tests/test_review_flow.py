"""Review decisions flowing back into the build: the dbt models over reviews/decisions, and (once the
release policy reads int_review_verdicts) escalated records quarantined / released-by-review records
published in the next build."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline_helpers import REPO, run_dbt
from test_bias_stage import STEREOTYPE, therapy

pytestmark = pytest.mark.dbt
MODELS = "stg_lakehouse__review_decisions int_review_verdicts"
POLICY_FILES = [REPO / "models/release/intermediate/int_records_classified.sql",
                REPO / "models/release/intermediate/int_records_quarantined.sql"]
WIRED = any("int_review_verdicts" in p.read_text() for p in POLICY_FILES if p.exists())


def _verdicts(work: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    import duckdb

    con = duckdb.connect(str(work / "lakehouse.duckdb"), read_only=True)
    try:
        cur = con.execute("select * from main.int_review_verdicts order by record_id")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r)) for r in cur.fetchall()}
    finally:
        con.close()


def _decision(reviewer: str, record_id: str, verdict: str, minutes: int, notes: str = "") -> dict:  # type: ignore[type-arg]
    from lakehouse.review.record import decision_id

    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    return {"decision_id": decision_id(reviewer, record_id, "v1", verdict, notes), "reviewer": reviewer,
            "record_id": record_id, "content_hash": None, "release": "v1", "verdict": verdict, "rubric": "{}",
            "rubric_version": "1", "notes": notes, "family": None, "record_status": "released",
            "quarantine_reason_code": None, "source_file_sha256": "", "recorded_at": t0 + timedelta(minutes=minutes)}


def test_review_models_without_and_with_decisions(local_root: str, tmp_path: Path) -> None:
    from lakehouse.review.record import append_decisions
    from lakehouse.storage import Storage

    res = run_dbt(tmp_path / "empty", select=MODELS)
    assert res.ok, res.output[-3000:]
    assert _verdicts(tmp_path / "empty") == {}          # no reviews/decisions table: zero rows

    rows = [
        _decision("a", "r:disagree", "pass", 1), _decision("b", "r:disagree", "escalate", 2, "method detail"),
        _decision("c", "r:disagree", "fail", 3, "off"),
        _decision("a", "r:pass", "pass", 1), _decision("b", "r:pass", "pass", 5),
        _decision("a", "r:released", "release", 4, "fine"),
        _decision("a", "r:failed-then-released", "fail", 1, "x"), _decision("b", "r:failed-then-released", "release", 9, "ok"),
        _decision("a", "r:released-then-failed", "release", 1, "ok"), _decision("b", "r:released-then-failed", "fail", 9, "x"),
    ]
    storage = Storage.from_env(local_root)
    assert append_decisions(storage, rows).appended == len(rows)
    assert append_decisions(storage, rows).appended == 0
    res = run_dbt(tmp_path / "full", select=MODELS)
    assert res.ok, res.output[-3000:]
    v = _verdicts(tmp_path / "full")
    assert set(v) == {"r:disagree", "r:pass", "r:released", "r:failed-then-released", "r:released-then-failed"}
    d = v["r:disagree"]
    assert (d["review_verdict"], d["review_decision_id"], d["n_reviewers"]) == ("escalate", rows[1]["decision_id"], 3)
    assert v["r:pass"]["review_verdict"] == "pass" and v["r:pass"]["review_decision_id"] == rows[4]["decision_id"]
    r = v["r:released"]
    assert r["review_verdict"] is None and r["has_release_verdict"] and r["is_released_by_review"]
    assert r["release_decision_id"] == rows[5]["decision_id"]
    assert v["r:failed-then-released"]["is_released_by_review"] is True
    assert v["r:released-then-failed"]["is_released_by_review"] is False
    assert not d["has_release_verdict"]


# -- flow back through the release policy (needs the policy wiring in int_records_classified) -----
BIAS_NOTES = "reviewed in context: acceptable for training"
SHORT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}


def _waivers() -> list[str]:
    with open(REPO / "seeds" / "release" / "dataset_registry.csv", newline="") as f:
        return sorted(r["family"] for r in csv.DictReader(f) if r["family"] != "mental_health_datasets")


def _gate_quality(work: Path) -> list[str]:
    """Statuses of the gate_quality tests of a build (target/run_results.json)."""
    res = json.loads((work / "target" / "run_results.json").read_text())
    return [r["status"] for r in res["results"] if "gate_quality" in r["unique_id"]]


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from lakehouse.landing import land
    from lakehouse.review.record import record_decisions
    from lakehouse.review.sample import draw_sample
    from lakehouse.storage import Storage

    base = tmp_path_factory.mktemp("flow")
    root = str(base / "lakehouse")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKEHOUSE_ROOT", root)
        for k in ("AWS_ENDPOINT_URL", "OVH_S3_ENDPOINT", "DATASET_STORAGE_BACKEND"):
            mp.delenv(k, raising=False)
        land([str(REPO / "samples" / "chatml")], source="synthetic_sessions", family="mental_health_datasets",
             license_tag="CC0-1.0")
        short = base / "short.jsonl"
        short.write_text(json.dumps(SHORT) + "\n")
        land([str(short)], source="short_chats", family="mental_health_datasets", license_tag="CC0-1.0")
        # a stage-1 session that passes every score but the bias limit: one of its two assistant turns
        # says "women are so dramatic" (bias_score 0.5 > max_bias_score 0.2)
        biased = base / "biased.jsonl"
        biased.write_text(json.dumps(therapy(900, STEREOTYPE)) + "\n")
        land([str(biased)], source="biased_chats", family="mental_health_datasets", license_tag="CC0-1.0")
        res = run_dbt(base / "b1", vars={"release_version": "v1", "coverage_waivers": _waivers()}, env={"LAKEHOUSE_ROOT": root})
        assert res.ok, res.output[-4000:]
        storage = Storage.from_env(root)
        from deltalake import DeltaTable

        q = DeltaTable(storage.uri("quarantine/records")).to_pyarrow_table().to_pylist()
        quality = [r for r in q if r["source_name"] == "short_chats"]
        assert quality and quality[0]["reason_code"].startswith("quality"), quality
        (bias,) = [r for r in q if r["source_name"] == "biased_chats"]
        assert (bias["reason_code"], bias["quarantine_reason"]) == ("quality:bias", "quality:bias 0.5 > 0.2 (gender:women)")
        draw_sample(storage, "v1", per_family=3, seed=1, quarantined_per_family=0)
        rows = list(csv.DictReader(io.StringIO(storage.read_bytes("reviews/v1/qa_samples.csv").decode())))
        escalated = rows[0]
        decisions = [dict(escalated, verdict="escalate", notes="names a method")]
        decisions.append({k: "" for k in rows[0]} | {"release": "v1", "record_id": quality[0]["record_id"],
                                                       "verdict": "release", "notes": "a greeting, harmless"})
        decisions.append({k: "" for k in rows[0]} | {"release": "v1", "record_id": bias["record_id"],
                                                       "verdict": "release", "notes": BIAS_NOTES})
        path = base / "decisions.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(decisions)
        record_decisions(storage, str(path), reviewer="dr_a")
        res = run_dbt(base / "b2", vars={"release_version": "v2", "coverage_waivers": _waivers()}, env={"LAKEHOUSE_ROOT": root})
        assert res.ok, res.output[-4000:]
        q2 = DeltaTable(storage.uri("quarantine/records")).to_pyarrow_table().to_pylist()
        from lakehouse.review.release import iter_release_records

        v2 = [r["metadata"] for r in iter_release_records(storage, "v2")]   # whatever the release layout
        yield {"escalated": escalated["record_id"], "released": quality[0]["record_id"], "quarantine": q2,
               "release": v2, "biased": bias["record_id"], "gate_quality": _gate_quality(base / "b2")}


@pytest.mark.skipif(not WIRED, reason="waiting for policy wiring (int_review_verdicts in int_records_classified)")
def test_escalated_record_is_quarantined_in_the_next_build(two_builds) -> None:  # type: ignore[no-untyped-def]
    rid = two_builds["escalated"]
    assert rid not in {m["record_id"] for m in two_builds["release"]}
    (q,) = [r for r in two_builds["quarantine"] if r["record_id"] == rid]
    assert q["reason_code"] == "clinical_review"
    from lakehouse.review.record import decision_id

    assert decision_id("dr_a", rid, "v1", "escalate", "names a method") in q["quarantine_reason"]


@pytest.mark.skipif(not WIRED, reason="waiting for policy wiring (int_review_verdicts in int_records_classified)")
def test_released_by_review_record_appears_in_the_next_release(two_builds) -> None:  # type: ignore[no-untyped-def]
    rid = two_builds["released"]
    assert rid in {m["record_id"] for m in two_builds["release"]}
    assert rid not in {r["record_id"] for r in two_builds["quarantine"]}


@pytest.mark.skipif(not WIRED, reason="waiting for policy wiring (int_review_verdicts in int_records_classified)")
def test_release_verdict_lifts_a_quality_bias_quarantine(two_builds) -> None:  # type: ignore[no-untyped-def]
    """A clinician's `release` of a stage-1 record the bias limit quarantined: published in the next
    build with its bias flags kept and the decision named, and gate_quality (which fails a released
    record over the limit without a release decision) passes."""
    from lakehouse.review.record import decision_id

    rid = two_builds["biased"]
    assert rid not in {r["record_id"] for r in two_builds["quarantine"]}
    (meta,) = [m for m in two_builds["release"] if m["record_id"] == rid]
    assert meta["bias"]["stereotype_flags"] == ["gender:women"] and meta["bias"]["bias_score"] == 0.5
    assert meta["released_by_review"] == decision_id("dr_a", rid, "v1", "release", BIAS_NOTES)
    assert two_builds["gate_quality"] == ["pass"]
