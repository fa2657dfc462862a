"""The training module consumes a release that the real pipeline built (land -> dbt -> export):
all three phases run in curriculum order on a tiny offline model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.landing import land
from pipeline_helpers import REPO, run_dbt

pytestmark = [pytest.mark.dbt, pytest.mark.train]
FIX = REPO / "tests" / "fixtures" / "samples"


def test_train_all_phases_on_a_built_release(local_root, tmp_path):
    land([str(REPO / "samples" / "chatml")], source="synthetic", family="mental_health_datasets", license_tag="CC0-1.0")
    land([str(FIX / "sharegpt" / "fastchat_dummy_conversation_subset.json")], source="fastchat",
         family="roleplay_simulator", license_tag="Apache-2.0")
    land([str(FIX / "sharegpt" / "llamafactory_dpo_en_demo_subset.json")], source="dpo", family="preference_pairs",
         license_tag="Apache-2.0")
    land([str(FIX / "speeches_sotu" / "1990_george_bush_r.txt")], source="sotu", family="video_transcripts",
         license_tag="public-domain")
    res = run_dbt(tmp_path / "w", vars={"release_version": "v-train", "distribution_min_records": 100000})
    assert res.ok, res.output[-4000:]

    release_dir = Path(local_root) / "exports/releases/v-train"
    cur = json.loads((release_dir / "curriculum.json").read_text())
    assert [p["phase"] for p in cur["phases"]] == ["A", "B", "C"]
    texts = [json.dumps(json.loads(line)) for p in sorted(release_dir.glob("compiled/*/*.jsonl"))
             for line in p.read_text().splitlines()]

    from lakehouse.training.tiny import build_tiny_model

    model = build_tiny_model(texts, tmp_path / "tiny", vocab_size=400)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "lakehouse.training", "--release", "v-train", "--model", str(model),
                        "--output", str(out), "--phase", "all", "--max-steps", "2", "--batch-size", "2",
                        "--max-length", "128", "--save-steps", "100", "--allow-unsigned"],
                       capture_output=True, text=True, timeout=900, cwd=str(REPO))
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    states = sorted(str(s.relative_to(out)) for s in out.rglob("state.json"))
    sft_stages = [s["stage"] for s in cur["phases"][1]["stages"]]
    assert len(states) == 1 + len(sft_stages) + 1, states   # A, each SFT stage, C
    metrics = (out / "metrics.csv").read_text()
    assert "loss" in metrics
