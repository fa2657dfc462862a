"""Acceptance tests of the training module on a tiny offline model (CPU, one thread, seconds each)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lakehouse.training.config import TrainConfig, TrainingConfigError
from lakehouse.training.release import ReleaseError, ReleaseIntegrityError
from test_training_helpers import VERSION, release_texts, upload_release, write_release

pytestmark = pytest.mark.train
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(release folder, tiny model folder), built once for the module."""
    from lakehouse.training.tiny import build_tiny_model

    base = tmp_path_factory.mktemp("training")
    rel = write_release(base / "root")
    model = build_tiny_model(list(release_texts(rel)), base / "tiny")
    return rel, model


def make_cfg(release: str | Path, model: Path, out: Path, **kw: Any) -> TrainConfig:
    defaults: dict[str, Any] = dict(max_length=128, batch_size=4, lr=3e-3, logging_steps=1, save_steps=1000,
                                    threads=1, seed=0)
    defaults.update(kw)
    return TrainConfig(release=str(release), model=str(model), output=str(out), **defaults)


def losses(out: Path, stage: str) -> dict[int, float]:
    from lakehouse.training.callbacks import read_metrics

    rows = [r for r in read_metrics(out, stage) if "loss" in r]
    steps = [r["step"] for r in rows]
    assert len(steps) == len(set(steps)), f"duplicate logged steps in {stage}: {steps}"
    return {r["step"]: r["loss"] for r in rows}


class WeightsAtStart:
    """Records (stage folder, embedding weights) when each stage starts training."""

    def __new__(cls) -> Any:
        from transformers import TrainerCallback

        class _CB(TrainerCallback):
            def __init__(self) -> None:
                self.seen: list[tuple[str, Any]] = []

            def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                self.seen.append((Path(args.output_dir).name, model.get_input_embeddings().weight.detach().clone()))

        return _CB()


class SimulatedCrash(RuntimeError):
    pass


def crash_at(stage: str, step: int) -> Any:
    """A callback that raises (like a killed process) right after step ``step`` of ``stage`` is logged."""
    from transformers import TrainerCallback

    class _Crash(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if Path(args.output_dir).name == stage and state.global_step == step:
                raise SimulatedCrash(f"crash at {stage} step {step}")

    return _Crash()


def count_steps() -> Any:
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        steps = 0

        def on_step_begin(self, *a: Any, **kw: Any) -> None:
            type(self).steps += 1

    return _Steps()


# -- SFT -------------------------------------------------------------------------------------------------
def test_sft_loss_falls_30_percent_in_40_steps(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.runner import run_training

    rel, model = tiny
    out = tmp_path / "out"
    report = run_training(make_cfg(rel, model, out, phase="B", stage=1, max_steps=40, eval_steps=20))
    ls = losses(out, "stage-1")
    assert sorted(ls) == list(range(1, 41))
    first = sum(ls[s] for s in range(1, 6)) / 5
    last = sum(ls[s] for s in range(36, 41)) / 5
    drop = 1 - last / first
    print(f"\nSFT stage-1: mean loss steps 1-5 {first:.3f} -> steps 36-40 {last:.3f}: drop {drop:.1%}")
    assert drop >= 0.30
    # metrics land in CSV, JSONL and a JSON summary; eval ran on the val split
    csv_text = (out / "metrics.csv").read_text()
    assert csv_text.startswith("stage,step,epoch,name,value") and ",loss," in csv_text
    summary = json.loads((out / "metrics.json").read_text())["stages"]["stage-1"]
    assert summary["step"] == 40 and "eval_loss" in summary
    state = json.loads((out / "stage-1" / "state.json").read_text())
    assert state["status"] == "finished" and state["global_step"] == 40
    assert report.stages[0].model.path == str(out / "stage-1" / "final")
    assert (out / "stage-1" / "final" / "config.json").exists()


def test_assistant_only_loss_masks_everything_but_assistant_turns(tiny: tuple[Path, Path]) -> None:
    from transformers import AutoTokenizer

    _, model = tiny
    tok = AutoTokenizer.from_pretrained(model)
    msgs = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "I feel sad."},
            {"role": "assistant", "content": "That sounds hard."}]
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    kept = tok.decode([i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m])
    assert kept == "That sounds hard.<|im_end|>"


def test_stage2_starts_from_stage1_weights(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from lakehouse.training.runner import run_training

    rel, model = tiny
    out = tmp_path / "out"
    probe = WeightsAtStart()
    report = run_training(make_cfg(rel, model, out, phase="B", max_steps=5), callbacks=[probe])
    assert [s.stage for s in report.stages] == ["stage-1", "stage-2"]  # ascending, though listed 2, 1
    assert [name for name, _ in probe.seen] == ["stage-1", "stage-2"]
    key = "model.embed_tokens.weight"
    initial = load_file(str(model / "model.safetensors"))[key]
    stage1_final = load_file(str(out / "stage-1" / "final" / "model.safetensors"))[key]
    assert torch.equal(probe.seen[0][1], initial)
    assert torch.equal(probe.seen[1][1], stage1_final)
    assert not torch.equal(stage1_final, initial)
    state2 = json.loads((out / "stage-2" / "state.json").read_text())
    assert state2["init"]["path"] == str(out / "stage-1" / "final")


def test_stage_families_are_mixed_with_payload_columns_only(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.data import stage_dataset
    from lakehouse.training.release import open_release

    rel, _ = tiny
    release = open_release(str(rel))
    stage2 = release.stages("B")[1]
    ds = stage_dataset(release, stage2, streaming=False, seed=0, cache_dir=str(tmp_path / "cache"))
    assert ds.column_names == ["messages"] and len(ds) == 128  # both families, each record once
    replies = {r["messages"][-1]["content"].split()[0] for r in ds}
    assert replies == {"Feeling"}  # stage 2's pattern only (stage 1 replies start with "It")


# -- DPO -------------------------------------------------------------------------------------------------
def test_dpo_runs_and_reports_reward_accuracy(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.runner import run_training

    rel, model = tiny
    out = tmp_path / "out"
    report = run_training(make_cfg(rel, model, out, phase="C", max_steps=20))
    m = report.stages[0].metrics
    from lakehouse.training.callbacks import read_metrics

    accs = [r["rewards/accuracies"] for r in read_metrics(out, "phase-C") if "rewards/accuracies" in r]
    assert len(accs) == 20
    print(f"\nDPO: mean reward accuracy {m['mean_reward_accuracy']:.3f}, last 10 steps "
          f"{sum(accs[-10:]) / 10:.3f}, last margin {m['rewards/margins']:.3f}")
    assert m["mean_reward_accuracy"] > 0.5 and sum(accs[-10:]) / 10 >= 0.8
    assert m["rewards/margins"] > 0


# -- integrity -------------------------------------------------------------------------------------------
def _copy_release(rel: Path, root: Path) -> Path:
    """Copy a release folder under ``root/exports/releases/``."""
    dst = root / "exports" / "releases" / rel.name
    shutil.copytree(rel, dst)
    return dst


@pytest.mark.parametrize("tamper", ["flip", "truncate", "unlisted"])
def test_tampered_shard_is_refused_before_any_step(tiny: tuple[Path, Path], tmp_path: Path, tamper: str) -> None:
    from lakehouse.training.runner import run_training

    rel, model = tiny
    bad = _copy_release(rel, tmp_path)
    key = "shards/train/edge_cases/part-00000.jsonl"  # used by SFT stage 2: after A and stage 1 would have run
    p = bad / key
    data = p.read_bytes()
    if tamper == "flip":
        p.write_bytes(data.replace(b"lonely", b"lovely", 1))  # same size, different content
    elif tamper == "truncate":
        p.write_bytes(data[: len(data) // 2])
    else:
        manifest = json.loads((bad / "manifest.json").read_text())
        manifest["files"] = [f for f in manifest["files"] if f["key"] != key]
        (bad / "manifest.json").write_text(json.dumps(manifest))
    steps = count_steps()
    out = tmp_path / "out"
    with pytest.raises(ReleaseIntegrityError, match=key.replace(".", r"\.")):
        run_training(make_cfg(bad, model, out, phase="all", max_steps=2), callbacks=[steps])
    assert steps.steps == 0
    assert not out.exists() or not any(out.glob("*/checkpoint-*"))


def test_release_without_manifest_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.runner import run_training

    rel, model = tiny
    bad = _copy_release(rel, tmp_path)
    (bad / "manifest.json").unlink()
    with pytest.raises(ReleaseError, match="no manifest.json"):
        run_training(make_cfg(bad, model, tmp_path / "out", max_steps=2))


def test_tampered_curriculum_is_refused(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.release import open_release

    rel, _ = tiny
    bad = _copy_release(rel, tmp_path)
    cur = bad / "curriculum.json"
    cur.write_text(cur.read_text().replace('"weight": 0.4', '"weight": 0.9'))
    with pytest.raises(ReleaseIntegrityError, match="curriculum.json"):
        open_release(str(bad))


# -- resume ----------------------------------------------------------------------------------------------
def test_resume_after_crash_reproduces_uninterrupted_losses(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.runner import StageInterrupted, run_training

    rel, model = tiny
    kw = dict(phase="B", max_steps=20, save_steps=4)  # one phase-B budget: stage-1 12 steps, stage-2 8 (0.6/0.4)
    steps = {"stage-1": 12, "stage-2": 8}
    straight = tmp_path / "straight"
    run_training(make_cfg(rel, model, straight, **kw))

    crashed = tmp_path / "crashed"
    with pytest.raises(SimulatedCrash):  # dies at stage-2 step 6: last checkpoint is 4, steps 5-6 were logged
        run_training(make_cfg(rel, model, crashed, **kw), callbacks=[crash_at("stage-2", 6)])
    assert (crashed / "stage-1" / "state.json").exists()
    assert not (crashed / "stage-2" / "state.json").exists()
    assert (crashed / "stage-2" / "checkpoint-4").is_dir()

    with pytest.raises(TrainingConfigError, match="--resume"):  # no silent overwrite
        run_training(make_cfg(rel, model, crashed, **kw))

    report = run_training(make_cfg(rel, model, crashed, resume=True, **kw))
    assert [(s.stage, s.status) for s in report.stages] == [("stage-1", "skipped"), ("stage-2", "finished")]
    for stage in ("stage-1", "stage-2"):
        a, b = losses(straight, stage), losses(crashed, stage)
        assert sorted(a) == sorted(b) == list(range(1, steps[stage] + 1))
        print(f"\nresume {stage}: max |loss diff| vs uninterrupted {max(abs(a[k] - b[k]) for k in a):.2e}")
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5), stage
    state2 = json.loads((crashed / "stage-2" / "state.json").read_text())
    assert state2["init"]["path"] == str(crashed / "stage-1" / "final")

    # a stop that is not a crash (callback / signal) leaves the stage unfinished too
    from lakehouse.training.callbacks import StopAtStepCallback

    stopped = tmp_path / "stopped"
    with pytest.raises(StageInterrupted, match="--resume"):
        run_training(make_cfg(rel, model, stopped, phase="B", stage=1, max_steps=6, save_steps=100),
                     callbacks=[StopAtStepCallback(3)])
    assert not (stopped / "stage-1" / "state.json").exists()
    run_training(make_cfg(rel, model, stopped, phase="B", stage=1, max_steps=6, save_steps=100, resume=True))
    assert sorted(losses(stopped, "stage-1")) == list(range(1, 7))


def test_output_folder_is_bound_to_the_release_content(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from lakehouse.training.runner import run_training

    rel, model = tiny
    copy = _copy_release(rel, tmp_path / "a")
    out = tmp_path / "out"
    run_training(make_cfg(copy, model, out, phase="C", max_steps=1))
    # a byte-identical rebuild (new created_at / git_commit in the manifest) may resume the same folder
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest.update(created_at="2026-02-02T00:00:00Z", git_commit="f" * 40)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = run_training(make_cfg(copy, model, out, phase="C", max_steps=1, resume=True))
    assert report.stages[0].status == "skipped"
    # different content may not
    other = write_release(tmp_path / "b", seed=7)
    with pytest.raises(TrainingConfigError, match="files differ"):
        run_training(make_cfg(other, model, out, phase="C", max_steps=1, resume=True))


def test_report_to_is_used_only_when_installed() -> None:
    import importlib.util

    from lakehouse.training.runner import resolve_report_to

    assert resolve_report_to("none") == "none"
    for name in ("tensorboard", "wandb"):
        installed = importlib.util.find_spec(name) is not None or (
            name == "tensorboard" and importlib.util.find_spec("tensorboardX") is not None)
        assert resolve_report_to(name) == ([name] if installed else "none")


# -- streaming from S3 -----------------------------------------------------------------------------------
@pytest.mark.s3
def test_streaming_from_seaweedfs_s3(tiny: tuple[Path, Path], tmp_path: Path, s3_root: str) -> None:
    from lakehouse.storage import Storage
    from lakehouse.training.runner import run_training

    rel, model = tiny
    storage = Storage.from_env()
    assert storage.is_s3
    uri = upload_release(rel, storage)
    assert uri == f"{s3_root}/exports/releases/{VERSION}"
    out = tmp_path / "out"
    # a version resolves under LAKEHOUSE_ROOT (s3://...); every phase streams: packing, interleaving, DPO
    report = run_training(make_cfg(VERSION, model, out, phase="all", streaming=True, max_steps=4, shuffle_buffer=16))
    assert [s.stage for s in report.stages] == ["phase-A", "stage-1", "stage-2", "phase-C"]
    # phases A and C take the whole budget each; phase B splits it (0.6/0.4 -> 2 + 2)
    assert [s.global_step for s in report.stages] == [4, 2, 2, 4]
    assert sorted(losses(out, "stage-2")) == [1, 2]
    assert not (out / ".cache" / "datasets").exists()  # nothing materialised: streamed
    run = json.loads((out / "run.json").read_text())
    assert run["release"]["uri"] == uri

    # the S3 copy is verified by a streaming sha256 pass before training, too
    key = "shards/train/preference_pairs/part-00000.jsonl"
    data = storage.read_bytes(f"{uri}/{key}")
    storage.write_bytes(f"{uri}/{key}", data.replace(b"here", b"gone", 1))
    with pytest.raises(ReleaseIntegrityError, match=key.replace(".", r"\.")):
        run_training(make_cfg(uri, model, tmp_path / "out2", phase="all", streaming=True, max_steps=2))
    assert not (tmp_path / "out2").exists()


def test_streaming_needs_max_steps(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    rel, model = tiny
    with pytest.raises(TrainingConfigError, match="--max-steps"):
        make_cfg(rel, model, tmp_path / "out", streaming=True).validate()


# -- LoRA (the GPU path, exercised on CPU) ----------------------------------------------------------------
def test_lora_chains_one_adapter_through_all_phases(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from lakehouse.training.runner import run_training

    rel, model = tiny
    out = tmp_path / "out"
    report = run_training(make_cfg(rel, model, out, phase="all", max_steps=3, lora=True, lora_r=4, lora_alpha=8),
                          merge_final_lora=True)
    assert [s.stage for s in report.stages] == ["phase-A", "stage-1", "stage-2", "phase-C"]
    for s in report.stages:
        assert s.model.path == str(model.resolve()) and s.model.adapter == str(out / s.stage / "final")
        assert (out / s.stage / "final" / "adapter_config.json").exists()
    state = json.loads((out / "phase-C" / "state.json").read_text())
    assert state["init"]["adapter"] == str(out / "stage-2" / "final")
    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    assert not any("lora" in n for n, _ in merged.named_parameters())


# -- CLI -------------------------------------------------------------------------------------------------
def test_cli_trains_and_reports(tiny: tuple[Path, Path], tmp_path: Path, local_root: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from lakehouse.training.cli import train_command

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the command sets it for its process; keep the session's env clean
    rel, model = tiny
    _copy_release(rel, Path(local_root))  # the version now resolves under LAKEHOUSE_ROOT
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)  # two commands: invoked as `... train`, like the lakehouse CLI
    out = tmp_path / "out"
    args = ["train", "--release", VERSION, "--model", str(model), "--output", str(out), "--phase", "C",
            "--max-steps", "3", "--max-length", "128", "--lr", "3e-3", "--logging-steps", "1",
            "--allow-unsigned"]  # an unsigned release: allowed with a warning (tests/test_review_signoff.py)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "phase-C: finished, 3 steps" in res.output and "reward accuracy" in res.output
    again = CliRunner().invoke(app, args)  # same output folder without --resume
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0 and "phase-C: skipped" in resumed.output
    missing = CliRunner().invoke(app, ["train", "--release", "v0-missing", "--model", str(model), "--output", str(out)])
    assert missing.exit_code == 2 and "no manifest.json" in missing.output


def test_cli_imports_fast_without_torch() -> None:
    code = ("import sys, lakehouse.training, lakehouse.training.cli; "
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets', 'peft') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert res.stdout.strip() == "[]"
    help_ = subprocess.run([sys.executable, "-m", "lakehouse.training", "--help"], capture_output=True, text=True,
                           cwd=REPO, check=True)
    assert "--release" in help_.stdout and "--streaming" in help_.stdout


def test_release_resolution(tmp_path: Path, local_root: str) -> None:
    from lakehouse.storage import Storage
    from lakehouse.training.release import resolve_release_uri

    st = Storage.from_env()
    assert resolve_release_uri("v2026-11-22", st) == f"{local_root}/exports/releases/v2026-11-22"
    assert resolve_release_uri("s3://b/x/exports/releases/v1/", st) == "s3://b/x/exports/releases/v1"
    assert resolve_release_uri(str(tmp_path / "rel"), st) == str(tmp_path / "rel")
    assert resolve_release_uri("file://" + str(tmp_path / "rel"), st) == str(tmp_path / "rel")
