"""`lakehouse pii redact`: end to end on a small JSONL file, bad lines, --scan output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.cli import app

RECORDS = [
    {"id": "r1", "source": "web", "messages": [
        {"role": "user", "content": "I'm Sarah Mitchell, call me at 555-201-3344. I want to kill myself."},
        {"role": "assistant", "content": "Sarah, are you safe right now?"}]},
    {"id": "r2", "prompt": [{"role": "user", "content": "My therapist Dr. Okafor moved to Dublin."}],
     "chosen": [{"role": "assistant", "content": "Have you told Dr. Okafor how you feel?"}],
     "rejected": [{"role": "assistant", "content": "ok"}]},
    {"id": "r3", "text": "Email me at jo.kim@example.org", "metadata": {"lang": "en"}},
    {"id": "r4", "messages": [{"role": "user", "content": "I took 30 pills two weeks ago."}]},
]
BAD = ["not json at all", "[1, 2]", '{"messages": "nope"}']
SECRETS = ["Sarah", "Mitchell", "555-201-3344", "Okafor", "Dublin", "jo.kim@example.org"]


@pytest.fixture()
def input_file(tmp_path: Path) -> Path:
    lines = [json.dumps(RECORDS[0]), BAD[0], json.dumps(RECORDS[1]), BAD[1], json.dumps(RECORDS[2]), BAD[2],
             json.dumps(RECORDS[3])]
    p = tmp_path / "in.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_redact_end_to_end_with_bad_lines(input_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["pii", "redact", str(input_file), "--output", str(out)])
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert [e.split(":")[1].strip() for e in errors] == ["in.jsonl line 2", "in.jsonl line 4", "in.jsonl line 6"]
    assert (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines() == BAD
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4"]
    text = out.read_text(encoding="utf-8")
    assert not [s for s in SECRETS if s in text]
    r1, r2, r3, r4 = rows
    assert r1["source"] == "web"
    assert r1["messages"][0]["content"] == "I'm <PERSON_1>, call me at <PHONE_1>. I want to kill myself."
    assert r1["messages"][1]["content"] == "<PERSON_1>, are you safe right now?"
    assert r1["metadata"] == {"pii_redactions": {"PERSON": 2, "PHONE_NUMBER": 1}, "pii_status": "redacted"}
    assert r2["prompt"][0]["content"] == "My therapist Dr. <PERSON_1> moved to <LOCATION_1>."
    assert r2["chosen"][0]["content"] == "Have you told Dr. <PERSON_1> how you feel?"
    assert r2["rejected"] == RECORDS[1]["rejected"]
    assert r3["text"] == "Email me at <EMAIL_1>" and r3["metadata"]["lang"] == "en"
    assert r3["metadata"]["pii_redactions"] == {"EMAIL_ADDRESS": 1}
    assert r4["messages"] == RECORDS[3]["messages"]
    assert r4["metadata"] == {"pii_redactions": {}, "pii_status": "clean"}


def test_redact_clean_file_exits_zero(tmp_path: Path) -> None:
    src = tmp_path / "ok.jsonl"
    src.write_text(json.dumps(RECORDS[3]) + "\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["pii", "redact", str(src), "-o", str(tmp_path / "ok.out.jsonl")])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "ok.out.rejects.jsonl").exists()


def test_scan_prints_counts_only(input_file: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["pii", "redact", str(input_file), "--scan"])
    assert res.exit_code == 1  # the bad lines
    report = json.loads(res.stdout)
    assert report["records"] == 4 and report["rejected"] == 3
    assert report["findings_by_type"] == {"EMAIL_ADDRESS": 1, "LOCATION": 1, "PERSON": 4, "PHONE_NUMBER": 1}
    assert report["findings_by_record"] == {"r1": {"PERSON": 2, "PHONE_NUMBER": 1}, "r2": {"LOCATION": 1, "PERSON": 2},
                                            "r3": {"EMAIL_ADDRESS": 1}, "r4": {}}
    assert not [s for s in SECRETS if s in res.stdout + res.stderr]
    assert not list(tmp_path.glob("*.jsonl.*")) and not (tmp_path / "out.jsonl").exists()


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["pii", "redact", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and res.stderr.strip().startswith("error: input file not found")
    src = tmp_path / "x.jsonl"
    src.write_text("{}\n", encoding="utf-8")
    res = runner.invoke(app, ["pii", "redact", str(src)])
    assert res.exit_code == 2 and "--output is required" in res.stderr
