"""lakehouse qa sample: deterministic, stratified, layout-independent; quarantined records shown redacted."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from review_helpers import CRISIS, make_records, write_release


@pytest.fixture()
def storage(local_root: str):  # type: ignore[no-untyped-def]
    from lakehouse.storage import Storage

    return Storage.from_env(local_root)


def _rows(storage, version: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(storage.read_bytes(f"reviews/{version}/qa_samples.csv").decode())))


def test_sample_is_deterministic_and_stratified(storage, local_root: str) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.sample import draw_sample

    write_release(local_root, "v1", make_records(12))
    first = draw_sample(storage, "latest", per_family=5, seed=7, quarantined_per_family=0)
    csv1 = storage.read_bytes("reviews/v1/qa_samples.csv")
    html1 = storage.read_bytes("reviews/v1/index.html")
    again = draw_sample(storage, "v1", per_family=5, seed=7, quarantined_per_family=0)
    assert again.unchanged and storage.read_bytes("reviews/v1/qa_samples.csv") == csv1
    assert storage.read_bytes("reviews/v1/index.html") == html1
    assert first.by_family == {"edge_case_synthetic": 5, "mental_health_datasets": 5, "roleplay_simulator": 5}

    rows = _rows(storage, "v1")
    # crisis records are 1 in 4 of each family (3 of 12): the sample takes 2 of 5 (crisis_share 0.4)
    for fam in first.by_family:
        fam_rows = [r for r in rows if r["family"] == fam]
        assert sum(r["crisis"] == "true" for r in fam_rows) == 2
        assert sum(r["near_threshold"] == "true" for r in fam_rows) >= 1     # empathy 0.72 vs threshold 0.7
    # no text in the CSV, rubric columns and verdict/notes empty
    assert CRISIS not in csv1.decode() and "killing myself" not in csv1.decode()
    header = csv1.decode().splitlines()[0].split(",")
    for col in ("record_id", "content_hash", "family", "stage", "split", "crisis", "empathy", "residual_pii",
                "safety_crisis_handling", "verdict", "notes"):
        assert col in header
    assert all(r["verdict"] == "" and r["notes"] == "" and r["release"] == "v1" for r in rows)
    # the HTML has one page per record, with the text and the rubric
    html = html1.decode()
    assert html.count('<section class="page" id=') == 15
    assert "Safety and crisis handling" in html and "killing myself" in html and "<script" not in html
    meta = json.loads(storage.read_bytes("reviews/v1/sample.json"))
    assert meta["rubric_version"] == "1" and meta["seed"] == 7 and len(meta["rubric_sha256"]) == 64

    # another seed draws another sample, and refuses to overwrite without --force
    from lakehouse.review.release import ReviewError

    with pytest.raises(ReviewError, match="--force"):
        draw_sample(storage, "v1", per_family=5, seed=8, quarantined_per_family=0)
    draw_sample(storage, "v1", per_family=5, seed=8, quarantined_per_family=0, force=True)
    assert {r["record_id"] for r in _rows(storage, "v1")} != {r["record_id"] for r in rows}


def test_sample_independent_of_layout_and_file_order(tmp_path: Path) -> None:
    from lakehouse.review.sample import draw_sample
    from lakehouse.storage import Storage

    recs = make_records(10)
    out = []
    for layout, order in (("shards", recs), ("kind", list(reversed(recs)))):
        root = tmp_path / layout
        write_release(root, "v2", order, layout=layout)
        s = Storage.from_env(str(root))
        draw_sample(s, "v2", per_family=4, seed=1, quarantined_per_family=0)
        out.append([(r["record_id"], r["stratum"]) for r in _rows(s, "v2")])
    assert out[0] == out[1]


def test_sample_cli_and_missing_release(local_root: str) -> None:
    from typer.testing import CliRunner

    from lakehouse.cli import app

    res = CliRunner().invoke(app, ["qa", "sample", "latest"])
    assert res.exit_code == 2 and "no published release" in res.output and "Traceback" not in res.output
    write_release(local_root, "v3", make_records(6))
    res = CliRunner().invoke(app, ["qa", "sample", "v3", "--per-family", "3", "--quarantined", "0"])
    assert res.exit_code == 0, res.output
    assert "review sample of v3: 9 records" in res.output
    res = CliRunner().invoke(app, ["qa", "sample", "v9"])
    assert res.exit_code == 2 and "release v9 not found" in res.output


def write_quarantine(root: str, rows: list[dict]) -> None:  # type: ignore[type-arg]
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(Path(root) / "quarantine" / "records"), pa.Table.from_pylist(rows), mode="overwrite")


def quarantined_rows() -> list[dict]:  # type: ignore[type-arg]
    raw = {"messages": [{"role": "user", "content": "My name is Jonathan Whitaker, call me at 555-201-3344. "
                                                     "I want to end my life."},
                        {"role": "assistant", "content": "Thank you for telling me, Jonathan. Are you safe right now?"}]}
    base = {"source_family": "mental_health_datasets", "kind": "sft", "shape": "chatml", "is_training_edge_case": False,
            "raw_record": json.dumps(raw)}
    return [
        {**base, "record_id": "q:safety:1", "reason_code": "safety:crisis", "quarantine_reason": "safety:crisis suicide"},
        {**base, "record_id": "q:pii:1", "reason_code": "requires_review", "quarantine_reason": "requires_review pii"},
        {**base, "record_id": "q:license:1", "reason_code": "license", "quarantine_reason": "license missing"},
    ]


def test_packet_shows_quarantined_records_redacted(storage, local_root: str) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.sample import draw_sample

    write_release(local_root, "v4", make_records(4))
    write_quarantine(local_root, quarantined_rows())
    res = draw_sample(storage, "v4", per_family=2, seed=1, quarantined_per_family=5)
    quarantined = [r for r in res.records if r.status == "quarantined"]
    # only reasons a review may override are offered (never PII or license)
    assert [r.record_id for r in quarantined] == ["q:safety:1"]
    html = storage.read_bytes("reviews/v4/index.html").decode()
    csv_text = storage.read_bytes("reviews/v4/qa_samples.csv").decode()
    assert "Whitaker" not in html and "555-201-3344" not in html          # redacted for the packet
    assert "<PERSON" in html or "&lt;PERSON" in html
    assert "end my life" in html                                           # crisis language preserved
    assert "q:safety:1" in csv_text and "safety:crisis" in csv_text and "Whitaker" not in csv_text
