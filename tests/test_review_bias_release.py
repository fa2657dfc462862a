"""A clinician releases a stage-1 record the bias limit quarantined (quality:bias), end to end:
build -> the record is quarantined `quality:bias` -> it is in the review packet (a quarantined
record whose reason a review may override) -> the reviewer's `release` verdict is recorded with
`lakehouse qa record` -> the next build publishes it, and gate_quality (which fails any released
record over the bias limit without a release decision) passes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline_helpers import REPO, run_dbt
from test_bias_stage import STEREOTYPE, therapy

pytestmark = pytest.mark.dbt
FAMILY = "mental_health_datasets"
NOTES = "reviewed in context: acceptable for training"


def _waivers() -> list[str]:
    with open(REPO / "seeds" / "release" / "dataset_registry.csv", newline="") as f:
        return sorted(r["family"] for r in csv.DictReader(f) if r["family"] != FAMILY)


def _quarantine(root: str) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    return DeltaTable(str(Path(root) / "quarantine" / "records")).to_pyarrow_table().to_pylist()


def _gate_quality(work: Path) -> list[str]:
    """Statuses of the gate_quality tests of a build (target/run_results.json)."""
    res = json.loads((work / "target" / "run_results.json").read_text())
    return [r["status"] for r in res["results"] if "gate_quality" in r["unique_id"]]


def test_release_verdict_lifts_quality_bias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from lakehouse.cli import app
    from lakehouse.landing import land
    from lakehouse.review.release import iter_release_records
    from lakehouse.review.sample import draw_sample
    from lakehouse.storage import Storage
    from lakehouse.synth import write_jsonl

    root, cache = str(tmp_path / "lakehouse"), str(tmp_path / "cache")
    env = {"LAKEHOUSE_ROOT": root, "LAKEHOUSE_CACHE_ROOT": cache}
    monkeypatch.setenv("LAKEHOUSE_ROOT", root)
    monkeypatch.setenv("LAKEHOUSE_CACHE_ROOT", cache)
    for k in ("AWS_ENDPOINT_URL", "OVH_S3_ENDPOINT", "DATASET_STORAGE_BACKEND"):
        monkeypatch.delenv(k, raising=False)
    # stage-1 sessions that pass every quality threshold; one whose last assistant turn also says
    # "women are so dramatic" (1 of 2 assistant turns flagged: bias_score 0.5 > max_bias_score 0.2)
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "mh.jsonl", [therapy(i) for i in range(6)] + [therapy(900, STEREOTYPE)])
    land([str(tmp_path / "in" / "mh.jsonl")], source="mh", family=FAMILY, license_tag="MIT")

    res = run_dbt(tmp_path / "b1", vars={"release_version": "v1", "coverage_waivers": _waivers()}, env=env)
    assert res.ok, res.output[-5000:]
    storage = Storage.from_env(root)
    q1 = [r for r in _quarantine(root) if r["source_name"] == "mh"]
    assert [r["reason_code"] for r in q1] == ["quality:bias"], q1            # quarantined for bias, nothing else
    assert q1[0]["quarantine_reason"] == "quality:bias 0.5 > 0.2 (gender:women)"
    rid = q1[0]["record_id"]
    v1 = {r["metadata"]["record_id"] for r in iter_release_records(storage, "v1")}
    assert rid not in v1 and len(v1) == 6
    assert _gate_quality(tmp_path / "b1") == ["pass"]

    # the packet offers the quarantined record (quality:* is overridable); the reviewer releases it
    draw_sample(storage, "v1", per_family=2, seed=1, quarantined_per_family=5)
    rows = list(csv.DictReader(io.StringIO(storage.read_bytes("reviews/v1/qa_samples.csv").decode())))
    (row,) = [r for r in rows if r["record_id"] == rid]
    assert row["status"] == "quarantined" and row["quarantine_reason_code"] == "quality:bias"
    filled = tmp_path / "decisions.csv"
    with open(filled, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerow(dict(row, verdict="release", cultural_sensitivity="fail",
                        notes=NOTES))
    out = CliRunner().invoke(app, ["qa", "record", str(filled), "--reviewer", "dr_a", "--root", root])
    assert out.exit_code == 0, out.output
    assert "1 recorded" in out.output and "release=1" in out.output

    res = run_dbt(tmp_path / "b2", vars={"release_version": "v2", "coverage_waivers": _waivers()}, env=env)
    assert res.ok, res.output[-5000:]
    assert _gate_quality(tmp_path / "b2") == ["pass"]                       # a reviewed release passes the gate
    assert rid not in {r["record_id"] for r in _quarantine(root)}
    v2 = {r["metadata"]["record_id"]: r["metadata"] for r in iter_release_records(storage, "v2")}
    assert len(v2) == 7 and rid in v2
    assert v2[rid]["bias"]["stereotype_flags"] == ["gender:women"] and v2[rid]["bias"]["bias_score"] == 0.5
    from lakehouse.review.record import decision_id

    assert v2[rid]["released_by_review"] == decision_id("dr_a", rid, "v1", "release", NOTES)   # which decision did it
