"""Run the curriculum of a release: phase A (continued pretraining), phase B (SFT stages), phase C
(DPO, KTO, ORPO or SimPO, chosen by what the preference data holds: lakehouse/training/preference.py).

``--max-steps`` is one phase-B budget split across the SFT stages by curriculum weight; epochs and
learning rate come per stage from curriculum.json (lakehouse/training/curriculum.py). SFT batches are
bucketed by length, and every stage reports how many tokens ``--max-length`` cut
(lakehouse/training/lengths.py).

Order of work: resolve the release, plan the stages, verify every file they use against the manifest
(streaming sha256, before anything trains), then train stage by stage, each starting from the previous
stage's saved model. Each stage writes ``<output>/<stage>/checkpoint-*``, then ``final/`` and a
``state.json`` when it finished; ``resume=True`` skips finished stages and continues the unfinished one
from its last checkpoint. torch / transformers / trl are imported inside functions only.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from lakehouse.storage import Storage
from lakehouse.training.config import TrainConfig, TrainingConfigError
from lakehouse.training.curriculum import StagePlan, choose_preference_method, plan_hyperparameters
from lakehouse.training.preference import kto_files
from lakehouse.training.release import CURRICULUM, Release, ReleaseError, StageSpec, open_release, verify_files

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
RUN_FILE = "run.json"
FINAL_DIR = "final"
PHASE_ORDER = ("A", "B", "C")


class StageInterrupted(RuntimeError):
    """A stage stopped before its last step (a callback or signal stopped it); rerun with resume."""


@dataclass(frozen=True)
class ModelRef:
    """Where a stage's starting weights are: a full model folder, or a base model plus a LoRA adapter."""

    path: str
    adapter: str | None = None
    tokenizer: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "adapter": self.adapter, "tokenizer": self.tokenizer}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelRef":
        return cls(path=d["path"], adapter=d.get("adapter"), tokenizer=d.get("tokenizer"))


@dataclass
class StageResult:
    stage: str
    status: str  # finished | skipped
    global_step: int
    model: ModelRef
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainReport:
    output: str
    release_version: str
    stages: list[StageResult] = field(default_factory=list)

    @property
    def final_model(self) -> ModelRef | None:
        return self.stages[-1].model if self.stages else None


# -- planning -----------------------------------------------------------------------------------------
def full_curriculum(release: Release) -> list[StageSpec]:
    return [s for ph in PHASE_ORDER for s in release.stages(ph)]


def plan_stages(release: Release, cfg: TrainConfig) -> list[StageSpec]:
    """The stages this run trains, in order; errors name what the curriculum lacks."""
    if cfg.stage is not None:
        specs = [s for s in release.stages("B") if s.stage == cfg.stage]
        if not specs:
            have = ", ".join(str(s.stage) for s in release.stages("B")) or "none"
            raise ReleaseError(f"curriculum.json has no SFT stage {cfg.stage} (stages: {have})")
        return specs
    phases = PHASE_ORDER if cfg.phase == "all" else (cfg.phase,)
    plan: list[StageSpec] = []
    for ph in phases:
        specs = [s for s in release.stages(ph) if s.files or (ph == "C" and kto_files(release, s))]
        if not specs:
            if cfg.phase != "all":
                raise ReleaseError(f"curriculum.json has no phase {ph} stage with train files")
            log.warning("phase %s has no train files in this release: skipped", ph)
        plan.extend(specs)
    if not plan:
        raise ReleaseError("curriculum.json lists nothing to train")
    return plan


def eval_files(release: Release, spec: StageSpec) -> tuple[str, ...]:
    out: list[str] = []
    for ph in release.curriculum.get("phases") or []:
        if ph.get("phase") != spec.phase:
            continue
        for st in ph.get("stages") or []:
            if st.get("stage") == spec.stage:
                for f in st.get("families") or []:
                    out.extend((f.get("files") or {}).get("val") or [])
    return tuple(out)


# -- output folder ------------------------------------------------------------------------------------
def read_state(stage_dir: Path) -> dict[str, Any] | None:
    p = stage_dir / STATE_FILE
    return json.loads(p.read_text()) if p.exists() else None


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _has_checkpoints(stage_dir: Path) -> bool:
    return stage_dir.is_dir() and any(p.name.startswith("checkpoint-") for p in stage_dir.iterdir())


def prepare_output(out: Path, cfg: TrainConfig, release: Release, plan: list[StageSpec]) -> None:
    """Refuse to overwrite earlier work without ``resume``, or to resume on a different release."""
    out.mkdir(parents=True, exist_ok=True)
    run_path = out / RUN_FILE
    previous = json.loads(run_path.read_text()) if run_path.exists() else None
    if previous and previous.get("release", {}).get("content_sha256") != release.content_sha256:
        raise TrainingConfigError(
            f"{out} was trained on release {previous['release'].get('version')!r} "
            f"(content sha256 {previous['release'].get('content_sha256')}); this run uses {release.version!r} "
            f"(content sha256 {release.content_sha256}), whose files differ: use a new --output")
    if not cfg.resume:
        for spec in plan:
            sdir = out / spec.dirname
            if read_state(sdir) is not None or _has_checkpoints(sdir):
                raise TrainingConfigError(f"{sdir} already holds a trained or started stage: pass --resume to continue "
                                          "(finished stages are skipped) or choose a new --output")
    invocations = (previous or {}).get("invocations", [])
    invocations.append({"started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "config": cfg.to_dict(),
                        "stages": [s.dirname for s in plan]})
    _write_json(run_path, {"release": {"uri": release.uri, "version": release.version,
                                       "manifest_sha256": release.manifest_sha256,
                                       "content_sha256": release.content_sha256},
                           "invocations": invocations})


def initial_model(cfg: TrainConfig, out: Path, release: Release, first: StageSpec) -> ModelRef:
    """The previous curriculum stage's final model if it finished in this output folder, else ``--model``."""
    order = full_curriculum(release)
    idx = next(i for i, s in enumerate(order) if s.dirname == first.dirname)
    for prev in reversed(order[:idx]):
        state = read_state(out / prev.dirname)
        if state and state.get("status") == "finished":
            log.info("%s starts from %s, finished earlier in this output folder", first.dirname, prev.dirname)
            return ModelRef.from_dict(state["model"])
    return ModelRef(path=_model_path(cfg.model))


def _model_path(model: str) -> str:
    p = Path(model).expanduser()
    if not (p / "config.json").exists():
        raise TrainingConfigError(f"--model must be a local model folder with config.json (no hub downloads): {model}")
    return str(p.resolve())


# -- device, model, tokenizer ---------------------------------------------------------------------------
def setup_device(cfg: TrainConfig) -> bool:
    """Return use_cpu; pin torch threads (1 on CPU: ~10x faster than 2 on small machines)."""
    import torch

    use_cpu = cfg.cpu if cfg.cpu is not None else not torch.cuda.is_available()
    threads = cfg.threads or (1 if use_cpu else None)
    if threads:
        torch.set_num_threads(threads)
    log.info("device: %s, torch threads: %d", "cpu" if use_cpu else "cuda", torch.get_num_threads())
    return use_cpu


def resolve_report_to(name: str) -> str | list[str]:
    if name == "none":
        return "none"
    module = {"tensorboard": "tensorboard", "wandb": "wandb"}[name]
    if importlib.util.find_spec(module) is None and not (name == "tensorboard" and importlib.util.find_spec("tensorboardX")):
        log.warning("--report-to %s asked for, but %s is not installed: metrics go to CSV/JSON only", name, module)
        return "none"
    return [name]


def load_tokenizer(ref: ModelRef, cfg: TrainConfig, kind: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ref.tokenizer or ref.adapter or ref.path, local_files_only=True)
    if cfg.chat_template == "chatml":
        from lakehouse.training.tiny import CHATML_TEMPLATE

        tok.chat_template = CHATML_TEMPLATE
    elif cfg.chat_template:
        tok.chat_template = Path(cfg.chat_template).read_text()
    if kind in ("sft", "preference") and not tok.chat_template:
        raise TrainingConfigError(f"the tokenizer of {ref.path} has no chat template: pass --chat-template FILE.jinja "
                                  "(with {% generation %} markers around assistant content)")
    return tok


def load_model(ref: ModelRef, cfg: TrainConfig) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if cfg.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype, local_files_only=True)
    if ref.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ref.adapter, is_trainable=True)
    return model


def lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target_modules, bias="none", task_type="CAUSAL_LM")


# -- one stage -----------------------------------------------------------------------------------------
def trainer_args(cfg: TrainConfig, spec: StageSpec, stage_dir: Path, use_cpu: bool, has_eval: bool,
                 hp: StagePlan | None = None, method: str = "dpo", extra: dict[str, Any] | None = None) -> Any:
    from trl import SFTConfig

    from lakehouse.training.preference import preference_config

    hp = hp or StagePlan(spec.dirname, cfg.max_steps, cfg.epochs or 1.0, cfg.lr or 2e-5, "config")
    gc_on = cfg.gradient_checkpointing if cfg.gradient_checkpointing is not None else not use_cpu
    common: dict[str, Any] = dict(
        output_dir=str(stage_dir), per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=hp.lr, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps, num_train_epochs=hp.epochs, max_steps=hp.max_steps or -1,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, seed=cfg.seed, data_seed=cfg.seed, use_cpu=use_cpu, bf16=cfg.bf16,
        fp16=False, activation_checkpointing=gc_on, report_to=resolve_report_to(cfg.report_to), disable_tqdm=False,
        max_length=cfg.max_length, dataloader_num_workers=0,
        eval_strategy="steps" if has_eval else "no", eval_steps=cfg.eval_steps if has_eval else None,
    )
    common.update(cfg.extra_args)
    if spec.kind == "preference":
        return preference_config(method, common, cfg.dpo_beta, extra)
    if spec.kind == "pretrain":
        return SFTConfig(packing=cfg.packing, packing_strategy=cfg.packing_strategy, dataset_text_field="text",
                         assistant_only_loss=False, **common)
    if not cfg.streaming and cfg.length_buckets:  # length-aware batches: long sessions padded with their peers
        common.setdefault("train_sampling_strategy", "group_by_length")
    return SFTConfig(packing=False, assistant_only_loss=True, **common)


def _summary(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """First/last training loss and the last value of each other logged metric (numbers only)."""
    losses = [h["loss"] for h in log_history if "loss" in h]
    out: dict[str, float] = {}
    if losses:
        out["first_loss"], out["last_loss"] = float(losses[0]), float(losses[-1])
    for h in log_history:
        for k, v in h.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch"):
                out[k] = float(v)
    accs = [h["rewards/accuracies"] for h in log_history if "rewards/accuracies" in h]
    if accs:
        out["mean_reward_accuracy"] = float(sum(accs) / len(accs))
    return out


def eval_dataset(release: Release, spec: StageSpec, cfg: TrainConfig, cache_dir: str) -> Any:
    """The stage's val split, all families concatenated (None if the release has no val files)."""
    from lakehouse.training.data import family_dataset

    parts = [family_dataset(release, spec.kind, (k,), streaming=cfg.streaming, cache_dir=cache_dir)
             for k in eval_files(release, spec)]
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    from datasets import concatenate_datasets

    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def train_stage(cfg: TrainConfig, release: Release, spec: StageSpec, init: ModelRef, stage_dir: Path,
                use_cpu: bool, callbacks: Sequence[Any] = (), hp: StagePlan | None = None) -> StageResult:
    import torch
    from transformers.trainer_utils import get_last_checkpoint

    from lakehouse.training.callbacks import MetricsCallback
    from lakehouse.training.data import stage_dataset
    from lakehouse.training.lengths import truncation_report

    out = stage_dir.parent
    cache_dir = cfg.cache_dir or str(out / ".cache" / "datasets")
    method, why, data_kind, extra = None, "", spec.kind, None
    if spec.kind == "preference":
        method, why = choose_preference_method(cfg.preference_method, bool(spec.files), bool(kto_files(release, spec)))
        log.info("%s: preference method %s (%s)", spec.dirname, method.upper(), why)
        if method in ("orpo", "simpo") and cfg.streaming:
            raise TrainingConfigError(f"--preference-method {method} needs a map-style dataset: drop --streaming")
    if method == "kto":
        from lakehouse.training.preference import kto_dataset, kto_weights

        data_kind = "kto"
        train_ds = kto_dataset(release, spec, include_pairs=bool(spec.files), streaming=cfg.streaming,
                               cache_dir=cache_dir, seed=cfg.seed)
        extra = kto_weights(train_ds)
        eval_ds = None  # the val split of KTO rows is not wired to evaluation
    else:
        train_ds = stage_dataset(release, spec, streaming=cfg.streaming, seed=cfg.seed, mix_strategy=cfg.mix_strategy,
                                 cache_dir=cache_dir, shuffle_buffer=cfg.shuffle_buffer)
        eval_ds = eval_dataset(release, spec, cfg, cache_dir) if cfg.eval_steps else None
    tokenizer = load_tokenizer(init, cfg, spec.kind)
    trunc = truncation_report(spec.dirname, train_ds, data_kind, tokenizer, cfg.max_length,
                              packing_strategy=cfg.packing_strategy if cfg.packing else None)
    log.info("%s", trunc.log_line())
    if trunc.examples and trunc.dropped == trunc.examples:
        raise TrainingConfigError(f"{spec.dirname}: every example's first assistant reply starts beyond --max-length "
                                  f"{cfg.max_length} (longest sequence {trunc.longest} tokens): raise --max-length")
    stage_dir.mkdir(parents=True, exist_ok=True)
    _write_json(stage_dir / "truncation.json", trunc.to_dict())
    model = load_model(init, cfg)
    args = trainer_args(cfg, spec, stage_dir, use_cpu, eval_ds is not None, hp, method or "dpo", extra)
    peft_cfg = lora_config(cfg) if cfg.lora and not init.adapter else None
    cbs = [MetricsCallback(out, spec.dirname), *callbacks]
    if spec.kind == "preference":
        from lakehouse.training.preference import preference_trainer

        trainer = preference_trainer(method or "dpo", model=model, args=args, train_dataset=train_ds,
                                     eval_dataset=eval_ds, processing_class=tokenizer, peft_config=peft_cfg,
                                     callbacks=cbs)
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                             processing_class=tokenizer, peft_config=peft_cfg, callbacks=cbs)

    last = get_last_checkpoint(str(stage_dir)) if cfg.resume and stage_dir.is_dir() else None
    if last:
        log.info("%s: resuming from %s", spec.dirname, Path(last).name)
    log.info("%s (%s): training from %s%s", spec.dirname, spec.name, init.path,
             f" + adapter {init.adapter}" if init.adapter else "")
    trainer.train(resume_from_checkpoint=last)
    state = trainer.state
    if state.max_steps and state.global_step < state.max_steps:
        raise StageInterrupted(f"{spec.dirname} stopped at step {state.global_step}/{state.max_steps}; "
                               "rerun with --resume to continue from its last checkpoint")

    final = stage_dir / FINAL_DIR
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    ref = ModelRef(path=init.path, adapter=str(final), tokenizer=str(final)) if cfg.lora \
        else ModelRef(path=str(final), tokenizer=str(final))
    metrics = _summary(state.log_history)
    metrics["truncated_tokens"] = float(trunc.truncated_tokens)
    _write_json(stage_dir / STATE_FILE, {
        "status": "finished", "stage": spec.dirname, "phase": spec.phase, "sft_stage": spec.stage, "name": spec.name,
        "kind": spec.kind, "global_step": state.global_step, "init": init.to_dict(), "model": ref.to_dict(),
        "release": {"version": release.version, "manifest_sha256": release.manifest_sha256,
                    "content_sha256": release.content_sha256},
        "files": list(spec.files), "metrics": metrics, "preference_method": method,
        "hyperparameters": {"max_steps": args.max_steps, "epochs": args.num_train_epochs,
                            "learning_rate": args.learning_rate, "source": hp.source if hp else "config"},
        "truncation": trunc.to_dict(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    log.info("%s finished: %d steps (%s)", spec.dirname, state.global_step, trunc.log_line())
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return StageResult(stage=spec.dirname, status="finished", global_step=state.global_step, model=ref, metrics=metrics)


def merge_lora(ref: ModelRef, out_dir: str | os.PathLike[str], bf16: bool = False) -> Path:
    """Fold a LoRA adapter into its base model and save a standalone model folder (for serving)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not ref.adapter:
        raise ValueError("merge_lora needs a model reference with an adapter")
    base = AutoModelForCausalLM.from_pretrained(ref.path, dtype=torch.bfloat16 if bf16 else torch.float32,
                                                local_files_only=True)
    merged = PeftModel.from_pretrained(base, ref.adapter).merge_and_unload()
    out = Path(out_dir)
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(ref.tokenizer or ref.adapter, local_files_only=True).save_pretrained(out)
    return out


# -- the whole run -------------------------------------------------------------------------------------
def run_training(cfg: TrainConfig, *, callbacks: Sequence[Any] = (), storage: Storage | None = None,
                 merge_final_lora: bool = False) -> TrainReport:
    """Verify, then train the planned stages in order. Raises before any step on a bad release."""
    cfg.validate()
    release = open_release(cfg.release, storage)
    plan = plan_stages(release, cfg)
    keys = [CURRICULUM, *[k for s in plan for k in s.files], *[k for s in plan if s.phase == "C"
                                                                for k in kto_files(release, s)]]
    if cfg.eval_steps:
        keys += [k for s in plan for k in eval_files(release, s)]
    verify_files(release, keys)  # every file this run reads, before any training step
    out = Path(cfg.output).expanduser().resolve()
    ref = initial_model(cfg, out, release, plan[0])
    prepare_output(out, cfg, release, plan)
    use_cpu = setup_device(cfg)
    hparams = plan_hyperparameters(release, plan, cfg)
    for spec in plan:
        log.info("curriculum %s", hparams[spec.dirname].log_line())
    report = TrainReport(output=str(out), release_version=release.version)
    for spec in plan:
        sdir = out / spec.dirname
        state = read_state(sdir)
        if state and state.get("status") == "finished":
            ref = ModelRef.from_dict(state["model"])
            log.info("%s already finished (%d steps): skipped", spec.dirname, state.get("global_step", 0))
            report.stages.append(StageResult(stage=spec.dirname, status="skipped", global_step=int(state.get("global_step", 0)),
                                             model=ref, metrics=state.get("metrics", {})))
            continue
        hp = hparams[spec.dirname]
        if hp.max_steps == 0:  # its share of a small phase-B budget rounded to nothing
            log.info("%s: 0 steps of the phase-B budget: skipped", spec.dirname)
            report.stages.append(StageResult(stage=spec.dirname, status="skipped", global_step=0, model=ref))
            continue
        result = train_stage(cfg, release, spec, ref, sdir, use_cpu, callbacks, hp)
        report.stages.append(result)
        ref = result.model
    if merge_final_lora and cfg.lora and ref.adapter:
        merge_lora(ref, out / "merged", bf16=cfg.bf16)
    return report
