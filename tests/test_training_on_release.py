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
    # the demo pairs' chosen replies rarely clear preference_pairs' margin threshold: land them in the
    # red-team family (phase C, quality waived) so phase C has data
    land([str(FIX / "sharegpt" / "llamafactory_dpo_en_demo_subset.json")], source="dpo",
         family="safety_guardrails_annihilator", license_tag="Apache-2.0")
    land([str(FIX / "speeches_sotu" / "1990_george_bush_r.txt")], source="sotu", family="video_transcripts",
         license_tag="public-domain")
    # the Release-0 families of stages 2-4 (required by the coverage gate): the bundled synthetic samples
    for folder, family in (("cot_reasoning", "cot_reasoning"), ("edge_cases", "edge_case_generator"),
                           ("voice_persona", "voice_persona")):
        land([str(REPO / "samples" / folder)], source=f"bundled_{folder}", family=family, license_tag="CC0-1.0")
    res = run_dbt(tmp_path / "w", vars={"release_version": "v-train", "distribution_min_records": 100000})
    assert res.ok, res.output[-4000:]

    release_dir = Path(local_root) / "exports/releases/v-train"
    cur = json.loads((release_dir / "curriculum.json").read_text())
    assert [p["phase"] for p in cur["phases"]] == ["A", "B", "C"]
    texts = [json.dumps(json.loads(line)) for p in sorted(release_dir.glob("compiled/*/*.jsonl"))
             for line in p.read_text().splitlines()]

    from lakehouse.training.tiny import build_tiny_model

    model = build_tiny_model(texts, tmp_path / "tiny", vocab_size=400, max_position_embeddings=2048)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "lakehouse.training", "--release", "v-train", "--model", str(model),
                        "--output", str(out), "--phase", "all", "--max-steps", "20", "--batch-size", "2",
                        "--max-length", "1024", "--save-steps", "100", "--allow-unsigned"],
                       capture_output=True, text=True, timeout=900, cwd=str(REPO))
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    states = sorted(str(s.relative_to(out)) for s in out.rglob("state.json"))
    sft_stages = [s["stage"] for s in cur["phases"][1]["stages"]]
    assert len(states) == 1 + len(sft_stages) + 1, states   # A, each SFT stage (its share of 20 steps), C
    assert [s["stage"] for s in cur["phases"][1]["stages"]][:4] == [1, 2, 3, 4]  # Release 0: stages 1-4
    steps = {s.parent.name: json.loads(s.read_text())["global_step"] for s in out.rglob("state.json")}
    assert sum(v for k, v in steps.items() if k.startswith("stage-")) == 20 and steps["phase-A"] == 20
    metrics = (out / "metrics.csv").read_text()
    assert "loss" in metrics
