"""release signoff: refused until foundation and edge-case samples are reviewed and the bias report exists;
surfaced by release list/show; `lakehouse train` refuses an unsigned release unless --allow-unsigned."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from review_helpers import make_records, write_release


@pytest.fixture()
def release(local_root: str):  # type: ignore[no-untyped-def]
    from lakehouse.review.sample import draw_sample
    from lakehouse.storage import Storage

    storage = Storage.from_env(local_root)
    write_release(local_root, "v1", make_records(6))
    draw_sample(storage, "v1", per_family=3, seed=1, quarantined_per_family=0)
    rows = list(csv.DictReader(io.StringIO(storage.read_bytes("reviews/v1/qa_samples.csv").decode())))
    return storage, rows


def _record(storage, rows, tmp_path: Path, reviewer: str, verdict: str = "pass", only=None) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.record import record_decisions

    out = [dict(r, verdict=verdict, notes="checked" if verdict != "pass" else "") for r in rows
           if only is None or only(r)]
    path = tmp_path / f"{reviewer}-{verdict}.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(out)
    record_decisions(storage, str(path), reviewer=reviewer)


def _write_bias_report(storage, version: str) -> None:  # type: ignore[no-untyped-def]
    """What the exporter will write as reports/bias.json, through lakehouse.review.bias."""
    from lakehouse.review.bias import bias_report
    from lakehouse.review.release import iter_release_records

    rep = bias_report(iter_release_records(storage, version), release=version)
    storage.write_bytes(f"exports/releases/{version}/reports/bias.json", json.dumps(rep, sort_keys=True).encode())


def test_signoff_refused_then_accepted(release, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.signoff import SignoffRefused, read_signoff, sign_off, signoff_state

    storage, rows = release
    assert signoff_state(storage, "v1")["state"] == "unsigned"
    with pytest.raises(SignoffRefused) as e:
        sign_off(storage, "v1", reviewer="lead", decision="approve")
    msg = str(e.value)
    assert "6 sampled record(s) of edge_case_synthetic, mental_health_datasets" in msg and "no bias report" in msg
    assert read_signoff(storage, "v1") is None

    # the roleplay family is not required; foundation + edge-case reviewed by one reviewer
    _record(storage, rows, tmp_path, "dr_a", only=lambda r: r["family"] != "roleplay_simulator")
    with pytest.raises(SignoffRefused, match="no bias report") as e:
        sign_off(storage, "v1", reviewer="lead", decision="approve")
    assert "reviewer(s)" not in str(e.value)
    _write_bias_report(storage, "v1")
    with pytest.raises(SignoffRefused, match="fewer than 2 reviewer"):
        sign_off(storage, "v1", reviewer="lead", decision="approve", min_reviewers=2)

    res = sign_off(storage, "v1", reviewer="lead", decision="approve", notes="round 1")
    body = read_signoff(storage, "v1")
    assert body["decision"] == "approve" and body["sha256"] == res.sha256
    assert body["qa"]["families"]["mental_health_datasets"] == {"sampled": 3, "reviewed": 3, "why": "foundation"}
    assert body["qa"]["families"]["edge_case_synthetic"]["why"] == "edge_case"
    assert body["bias_report"]["key"] == "exports/releases/v1/reports/bias.json"
    assert body["release"]["families"] == {"edge_case_synthetic": 6, "mental_health_datasets": 6, "roleplay_simulator": 6}
    assert signoff_state(storage, "v1")["state"] == "approved"

    # the signoff row is in Delta; release files untouched (signoff.json lives under reviews/)
    from deltalake import DeltaTable

    rows_ = DeltaTable(storage.uri("reviews/signoffs")).to_pyarrow_table().to_pylist()
    assert [(r["release"], r["decision"], r["signoff_sha256"]) for r in rows_] == [("v1", "approve", res.sha256)]
    assert not Path(storage.uri("exports/releases/v1/signoff.json")).exists()

    # an edited signoff.json is invalid
    key = Path(storage.uri("reviews/v1/signoff.json"))
    original = key.read_text()
    key.write_text(original.replace('"round 1"', '"round 2"'))
    assert signoff_state(storage, "v1")["state"] == "invalid"
    key.write_text(original)

    # revoke, recorded the same way and chained
    rev = sign_off(storage, "v1", reviewer="lead", decision="revoke", notes="PII found after release")
    assert read_signoff(storage, "v1")["previous_sha256"] == res.sha256
    assert signoff_state(storage, "v1")["state"] == "revoked" and rev.decision == "revoke"
    assert len(DeltaTable(storage.uri("reviews/signoffs")).to_pyarrow_table()) == 2


def test_escalation_blocks_approval_and_reject_is_always_possible(release, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.review.signoff import SignoffRefused, sign_off, signoff_state

    storage, rows = release
    _write_bias_report(storage, "v1")
    _record(storage, rows, tmp_path, "dr_a")
    first = rows[0]["record_id"]
    _record(storage, rows, tmp_path, "dr_b", verdict="escalate", only=lambda r: r["record_id"] == first)
    with pytest.raises(SignoffRefused, match=f"escalated \\(e.g. {first}\\)"):
        sign_off(storage, "v1", reviewer="lead", decision="approve")
    from lakehouse.review.release import ReviewError

    with pytest.raises(ReviewError, match="no approval to revoke"):
        sign_off(storage, "v1", reviewer="lead", decision="revoke")
    sign_off(storage, "v1", reviewer="lead", decision="reject", notes="escalated content")
    assert signoff_state(storage, "v1")["state"] == "rejected"


def test_signoff_cli_and_release_list_show(release, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from lakehouse.cli import app

    storage, rows = release
    runner = CliRunner()
    res = runner.invoke(app, ["release", "signoff", "latest", "--reviewer", "lead", "--decision", "approve"])
    assert res.exit_code == 2 and "approval of v1 refused" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["release", "signoff", "v1", "--reviewer", "lead", "--decision", "ship-it"])
    assert res.exit_code == 2 and "--decision must be one of" in res.output
    _record(storage, rows, tmp_path, "dr_a")
    res = runner.invoke(app, ["qa", "bias", "v1"])   # a release exported before reports/bias.json existed
    assert res.exit_code == 0 and "bias report of v1: 18 records" in res.output, res.output
    res = runner.invoke(app, ["release", "signoff", "latest", "--reviewer", "lead", "--decision", "approve",
                              "--notes", "QA round 1"])
    assert res.exit_code == 0 and "approve by lead recorded" in res.output, res.output
    listed = runner.invoke(app, ["release", "list"])
    assert "signoff:   approved by lead" in listed.output
    listed = runner.invoke(app, ["release", "list", "--json"])
    assert json.loads(listed.output)[0]["signoff"]["state"] == "approved"
    shown = runner.invoke(app, ["release", "show", "v1"])
    assert json.loads(shown.output)["signoff"]["state"] == "approved"
    status = runner.invoke(app, ["qa", "status", "v1"])
    assert "mental_health_datasets (foundation): 3/3 reviewed" in status.output and "signoff: approved" in status.output


def test_training_refuses_an_unsigned_release(local_root: str, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from lakehouse.review.training import check_release_signoff
    from lakehouse.training.cli import train_command
    from lakehouse.training.release import ReleaseError

    write_release(local_root, "v1", make_records(3))
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["train", "--release", "v1", "--model", str(tmp_path / "m"), "--output",
                                   str(tmp_path / "out")])
    assert res.exit_code == 2 and "release v1 has no signoff" in res.output and "--allow-unsigned" in res.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(ReleaseError, match="has no signoff"):
        check_release_signoff("v1")
    # a release folder given by path is checked against the root it lives under
    with pytest.raises(ReleaseError, match="has no signoff"):
        check_release_signoff(str(Path(local_root) / "exports" / "releases" / "v1"))
    warning = check_release_signoff("v1", allow_unsigned=True)
    assert warning and "training anyway because of --allow-unsigned" in warning
    assert check_release_signoff("v-missing") is None   # open_release reports a missing release itself


@pytest.mark.s3
def test_round_on_s3(s3_root: str, tmp_path: Path) -> None:
    """sample -> record -> bias -> signoff with the lakehouse root on S3 (SeaweedFS)."""
    from lakehouse.review.sample import draw_sample
    from lakehouse.review.signoff import sign_off, signoff_state
    from lakehouse.storage import Storage

    storage = Storage.from_env(s3_root)
    local = tmp_path / "rel"
    write_release(local, "v1", make_records(3))
    for p in sorted((local / "exports").rglob("*")):
        if p.is_file():
            storage.put_file(p, str(p.relative_to(local)))
    draw_sample(storage, "latest", per_family=2, seed=1, quarantined_per_family=0)
    rows = list(csv.DictReader(io.StringIO(storage.read_bytes("reviews/v1/qa_samples.csv").decode())))
    _record(storage, rows, tmp_path, "dr_a")
    _write_bias_report(storage, "v1")
    sign_off(storage, "v1", reviewer="lead", decision="approve")
    assert signoff_state(storage, "v1")["state"] == "approved"
    assert storage.exists("reviews/v1/signoff.json") and storage.exists("reviews/decisions/_delta_log/00000000000000000000.json")
