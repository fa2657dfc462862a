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


def _with_bias(recs: list[dict], flagged: dict[str, dict]) -> list[dict]:  # type: ignore[type-arg]
    """Records with metadata.bias (what the exporter writes) for the record ids in ``flagged``."""
    out = []
    for r in recs:
        meta = dict(r["metadata"])
        meta["bias"] = flagged.get(meta["record_id"], {"group_mentions": [], "stereotype_flags": [], "bias_score": 0.0,
                                                       "language": "en", "language_score": 1.0})
        out.append({**r, "metadata": meta})
    return out


FLAG = {"group_mentions": ["gender:women"], "stereotype_flags": ["gender:women"], "bias_score": 0.5, "language": "en",
        "language_score": 1.0}


def test_stereotype_flagged_records_are_oversampled_ahead_of_random(tmp_path: Path) -> None:
    from lakehouse.review.sample import STRATA, draw_sample, priority
    from lakehouse.storage import Storage

    fam = "mental_health_datasets"
    # make_records: i % 4 == 0 crisis, i % 3 == 1 near a threshold (empathy 0.72). Stereotype-flagged:
    # 2 and 5 (no other flag), 10 (also near a threshold: stereotype comes first), 8 (also crisis:
    # crisis comes first), 11 with a bias_score but no flag list (still the stereotype stratum)
    flagged = {f"{fam}:src:{i}": FLAG for i in (2, 5, 8, 10)}
    flagged[f"{fam}:src:11"] = {**FLAG, "stereotype_flags": [], "bias_score": 0.25}
    recs = _with_bias(make_records(40), flagged)
    root = tmp_path / "lake"
    write_release(root, "v5", recs)
    s = Storage.from_env(str(root))
    # per_family 10: crisis 4, stereotype 2 (stereotype_share 0.2), near_threshold 3, random the rest
    res = draw_sample(s, "v5", per_family=10, seed=3, quarantined_per_family=0)
    rows = [r for r in _rows(s, "v5") if r["family"] == fam]
    strata = [r["stratum"] for r in rows]
    assert strata == sorted(strata, key=STRATA.index)                     # packet order: crisis, stereotype, near, random
    assert strata.count("crisis") == 4 and strata.count("stereotype") == 2 and strata.count("near_threshold") == 3
    stereo = [r for r in res.records if r.family == fam and r.stratum == "stereotype"]
    # the 2 of the 4 stereotype-stratum records (2, 5, 10, 11) with the smallest sha256(seed:record_id)
    candidates = sorted((f"{fam}:src:{i}" for i in (2, 5, 10, 11)), key=lambda rid: priority(3, rid))
    assert [r.record_id for r in stereo] == candidates[:2]
    assert all(r.stereotype for r in stereo)
    by_id = {r["record_id"]: r for r in rows}
    for rid in candidates[:2]:
        assert by_id[rid]["stratum"] == "stereotype" and by_id[rid]["crisis"] == "false"
        assert by_id[rid]["stereotype_flags"] in ("gender:women", "")
    if f"{fam}:src:8" in by_id:                                           # crisis wins; the flag still shows
        assert by_id[f"{fam}:src:8"]["stratum"] == "crisis" and by_id[f"{fam}:src:8"]["stereotype_flags"] == "gender:women"
    # families without stereotype flags: the share rolls over to the uniform draw
    other = [r for r in _rows(s, "v5") if r["family"] == "roleplay_simulator"]
    assert len(other) == 10 and not [r for r in other if r["stratum"] == "stereotype"]
    html = s.read_bytes("reviews/v5/index.html").decode()
    assert "stereotype: gender:women" in html
    assert json.loads(s.read_bytes("reviews/v5/sample.json"))["by_stratum"]["stereotype"] == 2

    # deterministic: the same seed gives the same bytes; the stereotype rows depend on the seed only
    csv1 = s.read_bytes("reviews/v5/qa_samples.csv")
    assert draw_sample(s, "v5", per_family=10, seed=3, quarantined_per_family=0).unchanged
    root2 = tmp_path / "lake2"
    write_release(root2, "v5", list(reversed(recs)), layout="kind")
    s2 = Storage.from_env(str(root2))
    draw_sample(s2, "v5", per_family=10, seed=3, quarantined_per_family=0)
    assert s2.read_bytes("reviews/v5/qa_samples.csv") == csv1


def test_stereotype_stratum_outranks_random_and_rolls_over(tmp_path: Path) -> None:
    from lakehouse.review.sample import draw_sample, priority
    from lakehouse.storage import Storage

    fam = "edge_case_synthetic"
    recs = [r for r in make_records(40) if r["metadata"]["family"] == fam]
    ids = [f"{fam}:src:{i}" for i in (1, 21)]          # 2 of 40, not crisis (i % 4 != 0)
    root = tmp_path / "lake"
    write_release(root, "v6", _with_bias(recs, dict.fromkeys(ids, FLAG)))
    s = Storage.from_env(str(root))
    for seed in (1, 2, 3):
        # per_family 5: crisis 2, stereotype 1, near_threshold 2, random 0: a 1-in-20 flag is always in
        res = draw_sample(s, "v6", per_family=5, seed=seed, quarantined_per_family=0, force=True)
        assert [r.stratum for r in res.records] == ["crisis", "crisis", "stereotype", "near_threshold", "near_threshold"]
        assert res.records[2].record_id == min(ids, key=lambda rid: priority(seed, rid))

    # only flagged records (no crisis, no near threshold, nothing random): the empty strata's quota
    # rolls over and leftover flagged records fill the sample
    only = [r for r in recs if int(r["metadata"]["record_id"].rsplit(":", 1)[1]) in (2, 5, 6, 9, 13, 14)]
    root2 = tmp_path / "lake2"
    write_release(root2, "v7", _with_bias(only, {r["metadata"]["record_id"]: FLAG for r in only}))
    s2 = Storage.from_env(str(root2))
    res2 = draw_sample(s2, "v7", per_family=5, seed=11, quarantined_per_family=0)
    assert [r.stratum for r in res2.records] == ["stereotype"] * 5
    want = sorted((r["metadata"]["record_id"] for r in only), key=lambda rid: priority(11, rid))[:5]
    assert sorted(r.record_id for r in res2.records) == sorted(want)
