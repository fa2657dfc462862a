"""The `lakehouse` command: one-line errors naming the file, exit codes, summaries."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lakehouse.cli import app

runner = CliRunner()
GOOD = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_land_reports_and_is_idempotent(local_root, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(GOOD + "\n")
    r = invoke("land", str(f), "--source", "s", "--family", "mental_health_datasets", "--license", "MIT", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "1 rows, shape chatml" in r.output and "converts to 1 sft" in r.output
    r = invoke("land", str(f), "--source", "s", "--family", "mental_health_datasets", "--license", "MIT", "--no-progress")
    assert r.exit_code == 0 and "skipped" in r.output and "already landed" in r.output


def test_bad_inputs_give_one_line_errors(local_root, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(GOOD + "\n{oops\n")
    r = invoke("land", str(bad), "--source", "s", "--family", "f", "--license", "MIT", "--strict", "--no-progress")
    assert r.exit_code == 1
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{bad}:2:" in errors[0]
    r = invoke("land", str(tmp_path / "missing.jsonl"), "--source", "s", "--family", "f", "--no-progress")
    assert r.exit_code == 2 and "missing.jsonl: file not found" in r.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = invoke("land", str(empty), "--source", "s", "--family", "f", "--no-progress")
    assert r.exit_code == 1 and f"{empty}: empty file" in r.output
    r = invoke("land", str(empty), "--source", "s", "--family", "f", "--format", "yaml", "--no-progress")
    assert r.exit_code == 2 and "unknown --format 'yaml'" in r.output


def test_release_verify_unknown_version(local_root):
    r = invoke("release", "verify", "v-nope")
    assert r.exit_code == 2 and "release v-nope not found" in r.output
