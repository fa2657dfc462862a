"""`lakehouse quality score`: metadata.quality on every good line, bad lines to stderr (with their
line number) and unchanged to OUT.rejects.jsonl, exit 1 when any; stdout stays parseable JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from lakehouse.cli import app

GOOD = [
    {"messages": [{"role": "user", "content": "I want to kill myself."},
                  {"role": "assistant", "content": "Thank you for telling me. Are you safe right now? You can call or text 988."}]},
    {"prompt": [{"role": "user", "content": "I feel worthless."}],
     "chosen": [{"role": "assistant", "content": "I'm so sorry you feel that way. What has been happening?"}],
     "rejected": [{"role": "assistant", "content": "Just get over it."}], "metadata": {"record_id": "r1"}},
    {"text": "A lecture about sleep hygiene."},
]
BAD = ['{"messages": [', '["not", "an", "object"]', '{"messages": [{"role": "user"}]}', '{"foo": 1}']


def write_input(path: Path) -> list[str]:
    lines = [json.dumps(GOOD[0]), BAD[0], json.dumps(GOOD[1]), BAD[1], BAD[2], json.dumps(GOOD[2]), BAD[3]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_score_adds_metadata_and_rejects_bad_lines(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp)
    res = CliRunner().invoke(app, ["quality", "score", str(inp), "--output", str(out), "--lexicon-only", "--json"])
    assert res.exit_code == 1
    stderr = res.stderr if hasattr(res, "stderr") else res.output
    for n in (2, 4, 5, 7):
        assert f"line {n}:" in stderr
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(recs) == 3
    q0 = recs[0]["metadata"]["quality"]
    assert q0["crisis_disclosure"] and q0["crisis_categories"] == ["suicide"] and q0["crisis_handling"] >= 0.5
    assert set(q0["empathy_mechanisms"]) == {"emotional_reactions", "interpretations", "explorations"}
    assert recs[1]["metadata"]["record_id"] == "r1" and recs[1]["metadata"]["quality"]["preference_margin"] > 0
    assert recs[2]["metadata"]["quality"]["empathy"] is None
    assert recs[0]["messages"] == GOOD[0]["messages"]
    rejects = (tmp_path / "out.rejects.jsonl").read_text().splitlines()
    assert rejects == BAD   # unchanged, in input order
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["scored"] == 3 and summary["rejected"] == 4 and summary["scorer"]["embeddings"] is False


def test_all_good_exits_zero(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    inp.write_text("\n".join(json.dumps(r) for r in GOOD) + "\n")
    res = CliRunner().invoke(app, ["quality", "score", str(inp), "-o", str(out), "--lexicon-only"])
    assert res.exit_code == 0 and not (tmp_path / "o.rejects.jsonl").exists()
    missing = CliRunner().invoke(app, ["quality", "score", str(tmp_path / "nope.jsonl"), "-o", str(out)])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_stdout_is_clean_json_with_the_packaged_model(tmp_path: Path) -> None:
    """The model package prints on import: it is never imported, so stdout holds only our JSON."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(json.dumps(GOOD[0]) + "\n")
    lakehouse = Path(sys.executable).with_name("lakehouse")
    proc = subprocess.run([str(lakehouse), "quality", "score", str(inp), "--output", str(out), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["scorer"]["embeddings"] is True and summary["scored"] == 1
    fp = subprocess.run([str(lakehouse), "quality", "fingerprint"], capture_output=True, text=True, timeout=600)
    assert json.loads(fp.stdout)["config_hash"] == summary["scorer"]["config_hash"]
