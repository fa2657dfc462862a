"""The trainer follows the curriculum: one phase-B step budget split by stage weight, per-stage epochs and
learning rates, the preference method chosen by the data (KTO, ORPO on a tiny model), truncation reports."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from lakehouse.training.config import TrainConfig, TrainingConfigError
from lakehouse.training.curriculum import (
    SPEC_DEFAULTS, choose_preference_method, largest_remainder, plan_hyperparameters,
)
from test_training_helpers import EMOTIONS, SYSTEM, TOPICS, release_texts, write_release

WEIGHTS = {1: 0.25, 2: 0.20, 3: 0.15, 4: 0.15, 5: 0.10, 6: 0.10, 7: 0.05}  # seeds/release/curriculum_stages.csv


# -- step budget ----------------------------------------------------------------------------------------
def test_sixty_step_budget_split_over_the_stages_present() -> None:
    assert largest_remainder(60, WEIGHTS) == {1: 15, 2: 12, 3: 9, 4: 9, 5: 6, 6: 6, 7: 3}
    # Release 0: stages 1-4 and 7 present -> weights renormalised over 0.80
    present = {k: WEIGHTS[k] for k in (1, 2, 3, 4, 7)}
    split = largest_remainder(60, present)
    assert split == {1: 19, 2: 15, 3: 11, 4: 11, 7: 4} and sum(split.values()) == 60
    # stages 1-4 only
    assert largest_remainder(60, {k: WEIGHTS[k] for k in (1, 2, 3, 4)}) == {1: 20, 2: 16, 3: 12, 4: 12}
    # every budget is used exactly, whatever the weights
    rng = random.Random(0)
    for _ in range(200):
        w = {i: rng.random() for i in range(rng.randint(1, 7))}
        b = rng.randint(0, 500)
        got = largest_remainder(b, w)
        assert sum(got.values()) == b
        assert all(abs(got[k] - b * w[k] / sum(w.values())) < 1 for k in w)


def _fake_release(curriculum: dict) -> Any:
    class R:
        pass

    r = R()
    r.curriculum = curriculum  # type: ignore[attr-defined]
    return r


def _specs(stages: list[tuple[int, float]]) -> list[Any]:
    from lakehouse.training.release import StageSpec

    return [StageSpec(phase="B", kind="sft", stage=s, name=f"s{s}", weight=w, families=()) for s, w in stages]


def _cfg(**kw: Any) -> TrainConfig:
    return TrainConfig(release="r", model="m", output="o", **kw)


def test_stage_hyperparameters_come_from_the_curriculum_with_spec_defaults() -> None:
    cur = {"phases": [{"phase": "B", "stages": [{"stage": 1, "weight": 0.25, "epochs": 4, "learning_rate": 3e-4},
                                                {"stage": 2, "weight": 0.20}]}]}
    plan = _specs([(1, 0.25), (2, 0.20)])
    hp = plan_hyperparameters(_fake_release(cur), plan, _cfg(max_steps=60))
    assert (hp["stage-1"].max_steps, hp["stage-1"].epochs, hp["stage-1"].lr) == (33, 4.0, 3e-4)
    assert (hp["stage-2"].max_steps, hp["stage-2"].epochs, hp["stage-2"].lr) == (27, *SPEC_DEFAULTS[("B", 2)])
    assert hp["stage-1"].log_line().startswith("stage-1: 33 of 60 phase-B steps (weight 0.556)")
    # --lr / --epochs override every stage; without --max-steps stages train for their epochs
    hp = plan_hyperparameters(_fake_release(cur), plan, _cfg(lr=1e-3, epochs=1))
    assert {(p.max_steps, p.epochs, p.lr) for p in hp.values()} == {(None, 1.0, 1e-3)}
    # --stage N: the whole budget
    hp = plan_hyperparameters(_fake_release(cur), plan[1:], _cfg(max_steps=60, stage=2))
    assert hp["stage-2"].max_steps == 60
    assert SPEC_DEFAULTS[("B", 1)] == (3.0, 2e-4) and SPEC_DEFAULTS[("B", 4)] == (2.0, 5e-5)


def test_preference_method_follows_the_data() -> None:
    assert choose_preference_method("auto", True, False)[0] == "dpo"
    assert choose_preference_method("auto", False, True)[0] == "kto"
    assert choose_preference_method("auto", True, True)[0] == "kto"
    assert choose_preference_method("orpo", True, False)[0] == "orpo"
    with pytest.raises(TrainingConfigError, match="needs chosen/rejected pairs"):
        choose_preference_method("simpo", False, True)
    with pytest.raises(TrainingConfigError, match="--preference-method"):
        _cfg(preference_method="ppo").validate()


# -- on a tiny model ------------------------------------------------------------------------------------
def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def add_kto_rows(rel: Path, n: int = 32) -> Path:
    """Add an unpaired labelled (KTO) shard to phase C of a synthetic release, as the exporter lists it."""
    rng = random.Random(5)
    rows = []
    for i in range(n):
        e, t = rng.choice(EMOTIONS), rng.choice(TOPICS)
        good = i % 2 == 0
        reply = (f"It sounds like {t} has been making you feel {e}. I am here with you." if good
                 else "Just get over it, everyone has problems.")
        rows.append({"label": good, "messages": [{"role": "system", "content": SYSTEM},
                                                 {"role": "user", "content": f"I feel {e} about {t}."},
                                                 {"role": "assistant", "content": reply}], "metadata": {}})
    key = "shards/kto/train/preference_pairs/part-00000.jsonl"
    data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    (rel / key).parent.mkdir(parents=True, exist_ok=True)
    (rel / key).write_bytes(data)
    cur = json.loads((rel / "curriculum.json").read_text())
    for ph in cur["phases"]:
        if ph["phase"] == "C":
            ph["stages"][0]["families"][0]["kto_files"] = {"train": [key]}
    (rel / "curriculum.json").write_text(json.dumps(cur, indent=2, sort_keys=True))
    manifest = json.loads((rel / "manifest.json").read_text())
    files = {f["key"]: f for f in manifest["files"]}
    for k in ("curriculum.json", key):
        b = (rel / k).read_bytes()
        files[k] = {"key": k, "bytes": len(b), "sha256": _sha(b), **({"records": n} if k == key else {})}
    manifest["files"] = [files[k] for k in sorted(files)]
    (rel / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return rel


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(release, release with KTO rows, tiny model)."""
    from lakehouse.training.tiny import build_tiny_model

    base = tmp_path_factory.mktemp("curriculum")
    rel = write_release(base / "a", n_train=32, n_val=4, n_test=4)
    kto = add_kto_rows(write_release(base / "b", n_train=32, n_val=4, n_test=4))
    model = build_tiny_model(list(release_texts(rel)), base / "tiny")
    return rel, kto, model


def _run(release: Path, model: Path, out: Path, **kw: Any) -> Any:
    from lakehouse.training.runner import run_training

    cfg = dict(max_length=128, batch_size=4, lr=3e-3, logging_steps=1, save_steps=1000, threads=1, seed=0)
    cfg.update(kw)
    return run_training(TrainConfig(release=str(release), model=str(model), output=str(out), **cfg))


@pytest.mark.train
def test_phase_b_budget_is_split_and_logged(tiny: tuple[Path, Path, Path], tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    rel, _, model = tiny
    caplog.set_level("INFO", logger="lakehouse")
    report = _run(rel, model, tmp_path / "out", phase="B", max_steps=10)
    # curriculum weights 0.6 / 0.4 (the synthetic release) -> 6 + 4 = the budget
    assert [(s.stage, s.global_step) for s in report.stages] == [("stage-1", 6), ("stage-2", 4)]
    assert "stage-1: 6 of 10 phase-B steps (weight 0.600)" in caplog.text
    assert "stage-2: 4 of 10 phase-B steps (weight 0.400)" in caplog.text
    state = json.loads((tmp_path / "out" / "stage-1" / "state.json").read_text())
    assert state["hyperparameters"]["max_steps"] == 6 and state["hyperparameters"]["learning_rate"] == 3e-3
    # every stage reports what --max-length cut
    trunc = json.loads((tmp_path / "out" / "stage-2" / "truncation.json").read_text())
    assert trunc["sequences"] == 64 and trunc["truncated_tokens"] == 0
    assert "tokens truncated" in caplog.text


@pytest.mark.train
def test_truncation_is_reported_when_max_length_cuts(tiny: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from lakehouse.training.data import stage_dataset
    from lakehouse.training.lengths import truncation_report
    from lakehouse.training.release import open_release

    rel, _, model = tiny
    release = open_release(str(rel))
    spec = release.stages("B")[0]
    ds = stage_dataset(release, spec, streaming=False, seed=0, cache_dir=str(tmp_path / "cache"))
    tok = AutoTokenizer.from_pretrained(model)
    full = truncation_report("stage-1", ds, "sft", tok, 4096)
    assert full.truncated_tokens == 0 and full.sequences == 32 and full.longest > 0
    cut = truncation_report("stage-1", ds, "sft", tok, full.longest - 3)
    assert cut.truncated_sequences >= 1 and 3 <= cut.truncated_tokens <= 3 * cut.truncated_sequences
    assert "tokens truncated" in cut.log_line()
    tiny_cut = truncation_report("stage-1", ds, "sft", tok, 4)  # no reply token fits: the trainer would drop all
    assert tiny_cut.dropped == 32 and "dropped" in tiny_cut.log_line()
    # phase A packing that splits long documents loses nothing
    a = release.stages("A")[0]
    text = stage_dataset(release, a, streaming=False, seed=0, cache_dir=str(tmp_path / "cache"))
    packed = truncation_report("phase-A", text, "pretrain", tok, 8, packing_strategy="bfd_split")
    assert packed.truncated_tokens == 0 and packed.longest > 8 and "nothing is cut" in packed.note


@pytest.mark.train
def test_kto_runs_on_a_release_with_unpaired_rows(tiny: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, rel, model = tiny
    report = _run(rel, model, tmp_path / "out", phase="C", max_steps=3)
    state = json.loads((tmp_path / "out" / "phase-C" / "state.json").read_text())
    assert state["preference_method"] == "kto" and report.stages[0].global_step == 3
    # 32 unpaired rows + 32 pairs unrolled into 64 rows: every row counted
    assert state["truncation"]["examples"] == 96
    assert any(k.startswith("kl") or "rewards" in k for k in state["metrics"])


@pytest.mark.train
@pytest.mark.parametrize("method", ["orpo", "simpo"])
def test_reference_free_methods_run_on_pairs(tiny: tuple[Path, Path, Path], tmp_path: Path, method: str) -> None:
    rel, _, model = tiny
    report = _run(rel, model, tmp_path / "out", phase="C", max_steps=3, preference_method=method)
    state = json.loads((tmp_path / "out" / "phase-C" / "state.json").read_text())
    assert state["preference_method"] == method and report.stages[0].global_step == 3
    assert "first_loss" in state["metrics"]
