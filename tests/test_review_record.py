"""lakehouse qa record: every bad input refuses the whole file with the row named; re-recording adds nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from review_helpers import make_records, write_release


@pytest.fixture()
def packet(local_root: str):  # type: ignore[no-untyped-def]
    from lakehouse.review.sample import draw_sample
    from lakehouse.storage import Storage

    storage = Storage.from_env(local_root)
    write_release(local_root, "v1", make_records(6))
    draw_sample(storage, "v1", per_family=3, seed=1, quarantined_per_family=0)
    rows = list(csv.DictReader(io.StringIO(storage.read_bytes("reviews/v1/qa_samples.csv").decode())))
    return storage, rows


def _write(path: Path, rows: list[dict[str, str]], fieldnames: list[str] | None = None) -> str:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames or list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return str(path)


def _filled(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = [dict(r, verdict="pass", empathy="pass", residual_pii="pass") for r in rows]
    out[0].update(verdict="fail", notes="gives medication advice beyond the counsellor role")
    out[1].update(verdict="escalate", notes="method detail in the reply")
    return out


def _count(storage) -> int:  # type: ignore[no-untyped-def]
    from lakehouse.review.record import load_decisions

    return len(load_decisions(storage))


BAD_CASES = [
    ("unknown record", lambda r: r[2].update(record_id="nobody:src:99"), "row 4 (nobody:src:99): unknown record"),
    ("unknown verdict", lambda r: r[3].update(verdict="maybe"), "row 5 ("),
    ("bad rubric value", lambda r: r[2].update(empathy="great"), "empathy = 'great' is not one of"),
    ("rubric without verdict", lambda r: r[4].update(verdict=""), "rubric values or notes without a verdict"),
    ("notes required", lambda r: r[0].update(notes=""), "notes are required for verdict 'fail'"),
    ("empty record id", lambda r: r[2].update(record_id=""), "row 4: record_id is empty"),
    ("wrong content hash", lambda r: r[2].update(content_hash="0" * 64), "content_hash 000000000000... differs"),
    ("release verdict on a released record", lambda r: r[2].update(verdict="release", notes="x"),
     "verdict 'release' is for quarantined records"),
    ("missing release", lambda r: r[2].update(release=""), "release missing"),
]


@pytest.mark.parametrize("name,mutate,message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_rows_refuse_the_whole_file(packet, tmp_path: Path, name: str, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.record import DecisionsInvalid, record_decisions

    storage, rows = packet
    rows = _filled(rows)
    mutate(rows)
    path = _write(tmp_path / "d.csv", rows)
    with pytest.raises(DecisionsInvalid) as e:
        record_decisions(storage, path, reviewer="dr_a")
    assert message in str(e.value), str(e.value)
    assert "nothing was recorded" in str(e.value)
    assert _count(storage) == 0


def test_missing_reviewer_and_malformed_files(packet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.record import DecisionsInvalid, record_decisions
    from lakehouse.review.release import ReviewError

    storage, rows = packet
    path = _write(tmp_path / "d.csv", _filled(rows))
    with pytest.raises(DecisionsInvalid, match=r"row 2 \(.*\): reviewer missing"):
        record_decisions(storage, path, reviewer=None)
    with pytest.raises(ReviewError, match="is not a reviewer id"):
        record_decisions(storage, path, reviewer="dr a; drop table")
    # a reviewer column that disagrees with --reviewer
    with_col = [dict(r, reviewer="dr_b") for r in _filled(rows)]
    with pytest.raises(DecisionsInvalid, match="differs from --reviewer"):
        record_decisions(storage, _write(tmp_path / "c.csv", with_col), reviewer="dr_a")
    # no verdict column
    (tmp_path / "h.csv").write_text("record_id,notes\nx,y\n")
    with pytest.raises(DecisionsInvalid, match="missing column"):
        record_decisions(storage, str(tmp_path / "h.csv"), reviewer="dr_a")
    # a row with more fields than the header
    text = Path(path).read_text().splitlines()
    text[3] += ",extra,fields"
    (tmp_path / "m.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DecisionsInvalid, match="row 4: 2 field"):
        record_decisions(storage, str(tmp_path / "m.csv"), reviewer="dr_a")
    # not UTF-8
    (tmp_path / "b.csv").write_bytes(b"record_id,verdict\n\xff\xfe,pass\n")
    with pytest.raises(DecisionsInvalid, match="not UTF-8"):
        record_decisions(storage, str(tmp_path / "b.csv"), reviewer="dr_a")
    with pytest.raises(ReviewError, match="cannot read"):
        record_decisions(storage, str(tmp_path / "absent.csv"), reviewer="dr_a")
    assert _count(storage) == 0


def test_record_is_idempotent_and_holds_no_text(packet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.record import load_decisions, record_decisions

    storage, rows = packet
    filled = _filled(rows)
    filled[-1].update(verdict="", empathy="", residual_pii="")        # not reviewed yet: skipped
    path = _write(tmp_path / "d.csv", filled)
    res = record_decisions(storage, path, reviewer="dr_a")
    assert (res.appended, res.skipped_blank, res.by_verdict) == (8, 1, {"escalate": 1, "fail": 1, "pass": 6})
    again = record_decisions(storage, path, reviewer="dr_a")
    assert again.appended == 0 and again.already_recorded == 8
    assert _count(storage) == 8
    # the same decisions by a second reviewer are new decisions; changed notes are a new decision
    assert record_decisions(storage, path, reviewer="dr_b").appended == 8
    filled[0]["notes"] = "second look: advice beyond role"
    assert record_decisions(storage, _write(tmp_path / "e.csv", filled), reviewer="dr_a").appended == 1
    decisions = load_decisions(storage)
    assert len(decisions) == 17
    d = decisions[0]
    assert set(d) >= {"decision_id", "reviewer", "record_id", "content_hash", "release", "verdict", "rubric",
                      "notes", "recorded_at", "rubric_version"}
    assert "messages" not in d and "content" not in d
    table_bytes = b"".join(p.read_bytes() for p in Path(storage.root, "reviews", "decisions").rglob("*.parquet"))
    assert b"worrying about work" not in table_bytes and b"killing myself" not in table_bytes


def test_release_verdict_only_for_overridable_quarantine(local_root: str, tmp_path: Path) -> None:
    from lakehouse.review.record import DecisionsInvalid, load_decisions, record_decisions
    from lakehouse.storage import Storage

    from test_review_sample import quarantined_rows, write_quarantine

    storage = Storage.from_env(local_root)
    write_release(local_root, "v1", make_records(3))
    write_quarantine(local_root, quarantined_rows())
    base = {"release": "v1", "content_hash": "", "notes": "reviewed: the reply handles the disclosure well"}
    ok = [dict(base, record_id="q:safety:1", verdict="release")]
    fields = ["release", "record_id", "content_hash", "verdict", "notes"]
    for rid, code in (("q:pii:1", "requires_review"), ("q:license:1", "license")):
        bad = ok + [dict(base, record_id=rid, verdict="release")]
        with pytest.raises(DecisionsInvalid, match=f"quarantined for '{code}', which a review cannot override"):
            record_decisions(storage, _write(tmp_path / "r.csv", bad, fields), reviewer="dr_a")
    with pytest.raises(DecisionsInvalid, match="use verdict 'release'"):
        record_decisions(storage, _write(tmp_path / "p.csv", [dict(ok[0], verdict="pass")], fields), reviewer="dr_a")
    assert load_decisions(storage) == []
    res = record_decisions(storage, _write(tmp_path / "r.csv", ok, fields), reviewer="dr_a")
    assert res.appended == 1
    (d,) = load_decisions(storage)
    assert (d["verdict"], d["record_status"], d["quarantine_reason_code"]) == ("release", "quarantined", "safety:crisis")


def test_record_cli(packet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from lakehouse.cli import app

    storage, rows = packet
    bad = _filled(rows)
    bad[2]["verdict"] = "maybe"
    res = CliRunner().invoke(app, ["qa", "record", _write(tmp_path / "b.csv", bad), "--reviewer", "dr_a"])
    assert res.exit_code == 2 and "nothing was recorded" in res.output and "row 4" in res.output
    assert "Traceback" not in res.output
    good = _write(tmp_path / "g.csv", _filled(rows))
    res = CliRunner().invoke(app, ["qa", "record", good, "--reviewer", "dr_a"])
    assert res.exit_code == 0 and "9 recorded" in res.output, res.output
    res = CliRunner().invoke(app, ["qa", "record", good, "--reviewer", "dr_a"])
    assert res.exit_code == 0 and "0 recorded, 9 already recorded" in res.output
