"""``lakehouse train``: train a local model on a release (mounted by lakehouse/cli.py; also ``python -m lakehouse.training``).

Only typer and the settings dataclass are imported here; torch / transformers / trl load when training starts.
"""

from __future__ import annotations

import logging
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from lakehouse.training.config import DEFAULT_LORA_TARGETS, TrainConfig


class Phase(str, Enum):
    A = "A"
    B = "B"
    C = "C"
    all = "all"


class ReportTo(str, Enum):
    none = "none"
    tensorboard = "tensorboard"
    wandb = "wandb"


class MixStrategy(str, Enum):
    all_exhausted_without_replacement = "all_exhausted_without_replacement"
    first_exhausted = "first_exhausted"
    all_exhausted = "all_exhausted"


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("lakehouse").setLevel(logging.INFO)


def train_command(
    release: Annotated[str, typer.Option("--release", "-r", help="Release version under the lakehouse root "
                                         "(exports/releases/<version>/) or a release folder URI (local path or s3://).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Local model folder (config.json, weights, tokenizer). "
                                       "Nothing is downloaded.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output folder: <stage>/checkpoint-*, <stage>/final, "
                                        "state.json, metrics.csv/.jsonl/.json, run.json.")],
    phase: Annotated[Phase, typer.Option(help="A: continued pretraining, B: SFT stages, C: DPO, all: A -> B -> C.",
                                         case_sensitive=False)] = Phase.all,
    stage: Annotated[Optional[int], typer.Option(help="Run only this SFT stage (phase B).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimizer steps: one phase-B budget split across the SFT "
                                                     "stages by curriculum weight (largest remainders); phases A "
                                                     "and C each get it whole; --stage N gets it whole (required "
                                                     "with --streaming).")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Epochs of every stage (default: per stage from the "
                                                    "curriculum; used when --max-steps is not set).")] = None,
    batch_size: Annotated[int, typer.Option(help="Per-device batch size.")] = 4,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate of every stage (default: per stage from the "
                                                "curriculum, e.g. stage 1 2e-4, stage 4 5e-5).")] = None,
    lr_scheduler: Annotated[str, typer.Option(help="transformers scheduler name.")] = "linear",
    warmup_steps: Annotated[float, typer.Option(help="Warmup steps (a float < 1 is a ratio of the total).")] = 0,
    max_length: Annotated[int, typer.Option(help="Max tokens per sequence (the packed block length in phase A).")] = 2048,
    seed: Annotated[int, typer.Option(help="Seed for init, data order and family mixing.")] = 42,
    lora: Annotated[bool, typer.Option("--lora", help="Train a LoRA adapter (peft) instead of all weights.")] = False,
    lora_r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
    lora_dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = 0.05,
    lora_targets: Annotated[str, typer.Option(help="Comma-separated module names, or all-linear.")] = DEFAULT_LORA_TARGETS,
    merge_lora: Annotated[bool, typer.Option("--merge-lora", help="After the last stage, fold the adapter into the "
                                             "base model and save <output>/merged.")] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 weights and autocast (Ampere+ GPU).")] = False,
    gradient_checkpointing: Annotated[Optional[bool], typer.Option(
        "--gradient-checkpointing/--no-gradient-checkpointing", help="Default: on with a GPU, off on CPU.")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Train on CPU even if a GPU is visible.")] = False,
    threads: Annotated[Optional[int], typer.Option(help="torch threads (default 1 on CPU, the fastest on small "
                                                   "machines; torch's default on GPU).")] = None,
    streaming: Annotated[bool, typer.Option("--streaming", help="Stream shards (local or S3) instead of caching them "
                                            "as Arrow; needs --max-steps.")] = False,
    shuffle_buffer: Annotated[int, typer.Option(help="Shuffle buffer (records) when streaming.")] = 1000,
    mix_strategy: Annotated[MixStrategy, typer.Option(help="interleave_datasets stopping strategy for a stage's "
                                                      "families.")] = MixStrategy.all_exhausted_without_replacement,
    resume: Annotated[bool, typer.Option("--resume", help="Skip finished stages; continue the unfinished one from its "
                                         "last checkpoint.")] = False,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 200,
    save_total_limit: Annotated[Optional[int], typer.Option(help="Checkpoints kept per stage.")] = 2,
    logging_steps: Annotated[int, typer.Option(help="Log metrics every N steps.")] = 10,
    eval_steps: Annotated[Optional[int], typer.Option(help="Evaluate on the stage's val split every N steps.")] = None,
    report_to: Annotated[ReportTo, typer.Option(help="Also log to TensorBoard or W&B (only if installed).")] = ReportTo.none,
    dpo_beta: Annotated[float, typer.Option(help="Preference beta (phase C: DPO, KTO, ORPO; SimPO uses >= 2).")] = 0.1,
    preference_method: Annotated[str, typer.Option(help="Phase C: auto (DPO for pairs, KTO when the release has "
                                                   "unpaired labelled rows), dpo, kto, orpo or simpo.")] = "auto",
    packing_strategy: Annotated[str, typer.Option(help="Phase A packing: bfd_split, bfd or wrapped.")] = "bfd_split",
    chat_template: Annotated[Optional[str], typer.Option(help="Jinja chat template file (with {% generation %} "
                                                         "markers) replacing the model's, or 'chatml' for the "
                                                         "built-in ChatML one.")] = None,
    cache_dir: Annotated[Optional[str], typer.Option(help="Arrow cache for non-streaming data "
                                                     "(default <output>/.cache/datasets).")] = None,
    allow_unsigned: Annotated[bool, typer.Option("--allow-unsigned", help="Train on a release without an approved "
                                                 "signoff (lakehouse release signoff), with a warning.")] = False,
) -> None:
    """Train a local model on a release: verify every file against the manifest, then phases A -> B -> C."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only; set before transformers is imported
    _setup_logging()
    cfg = TrainConfig(
        release=release, model=model, output=output, phase=phase.value, stage=stage, max_steps=max_steps, epochs=epochs,
        batch_size=batch_size, grad_accum=grad_accum, lr=lr, lr_scheduler=lr_scheduler, warmup_steps=warmup_steps,
        max_length=max_length, seed=seed, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        lora_targets=lora_targets, bf16=bf16, gradient_checkpointing=gradient_checkpointing, cpu=True if cpu else None,
        threads=threads, streaming=streaming, shuffle_buffer=shuffle_buffer, mix_strategy=mix_strategy.value,
        resume=resume, save_steps=save_steps, save_total_limit=save_total_limit, logging_steps=logging_steps,
        eval_steps=eval_steps, report_to=report_to.value, dpo_beta=dpo_beta, preference_method=preference_method, packing_strategy=packing_strategy,
        chat_template=chat_template, cache_dir=cache_dir,
    )
    from lakehouse.config import ConfigError
    from lakehouse.training.config import TrainingConfigError
    from lakehouse.training.release import ReleaseError

    try:
        cfg.validate()
        from lakehouse.review.training import check_release_signoff

        warning = check_release_signoff(release, allow_unsigned=allow_unsigned)  # refuses an unsigned release
        if warning:
            typer.echo(f"warning: {warning}", err=True)
        from lakehouse.training.runner import StageInterrupted, run_training

        try:
            report = run_training(cfg, merge_final_lora=merge_lora)
        except StageInterrupted as e:
            typer.echo(f"interrupted: {e}", err=True)
            raise typer.Exit(code=3) from e
    except (ReleaseError, TrainingConfigError, ConfigError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    for s in report.stages:
        m = s.metrics
        parts = [f"{s.stage}: {s.status}, {s.global_step} steps"]
        if "truncated_tokens" in m:
            parts.append(f"{int(m['truncated_tokens'])} tokens truncated")
        if "first_loss" in m:
            parts.append(f"loss {m['first_loss']:.4f} -> {m['last_loss']:.4f}")
        if "mean_reward_accuracy" in m:
            parts.append(f"reward accuracy {m['mean_reward_accuracy']:.3f}")
        typer.echo(", ".join(parts))
    if report.final_model:
        fm = report.final_model
        typer.echo(f"final model: {fm.adapter or fm.path}" + (f" (LoRA adapter on {fm.path})" if fm.adapter else ""))


def main(argv: list[str] | None = None) -> None:
    """Standalone entry point; a leading ``train`` is accepted so both spellings work."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["train"]:
        args = args[1:]
    app = typer.Typer(add_completion=False)
    app.command("train")(train_command)  # a one-command app runs it directly, without the name
    app(args=args, prog_name="python -m lakehouse.training")
