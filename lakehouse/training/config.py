"""Training settings: one dataclass shared by the CLI and the Python API (no heavy imports here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

PHASES = ("A", "B", "C", "all")
REPORT_TO = ("none", "tensorboard", "wandb")
DEFAULT_LORA_TARGETS = "all-linear"  # every linear layer except the LM head: works across architectures


class TrainingConfigError(ValueError):
    """Settings that cannot work together; the message says which and how to fix it."""


@dataclass
class TrainConfig:
    release: str
    model: str
    output: str
    phase: str = "all"
    stage: int | None = None
    max_steps: int | None = None  # phase B: one budget split across its stages; phases A and C: each
    epochs: float | None = None    # None: per stage from curriculum.json (product spec defaults)
    batch_size: int = 4
    grad_accum: int = 1
    lr: float | None = None        # None: per stage from curriculum.json
    lr_scheduler: str = "linear"
    warmup_steps: float = 0
    max_length: int = 2048
    seed: int = 42
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str = DEFAULT_LORA_TARGETS
    bf16: bool = False
    gradient_checkpointing: bool | None = None  # None: on with a GPU, off on CPU
    cpu: bool | None = None  # None: CPU unless CUDA is available
    threads: int | None = None  # None: 1 on CPU (fastest on small machines), torch's default on GPU
    streaming: bool = False
    shuffle_buffer: int = 1000
    mix_strategy: str = "all_exhausted_without_replacement"
    resume: bool = False
    save_steps: int = 200
    save_total_limit: int | None = 2
    logging_steps: int = 10
    eval_steps: int | None = None  # evaluate on the stage's val split every N steps (None: no eval)
    report_to: str = "none"
    dpo_beta: float = 0.1  # beta of DPO / KTO / ORPO (SimPO uses at least 2.0)
    preference_method: str = "auto"  # auto (by what the data holds), dpo, kto, orpo, simpo
    length_buckets: bool = True  # SFT: batches of similar length (LengthGroupedSampler); not when streaming
    packing: bool = True  # phase A only
    packing_strategy: str = "bfd_split"
    chat_template: str | None = None  # a .jinja file with {% generation %} markers, or "chatml" (built in)
    cache_dir: str | None = None  # Arrow cache of non-streaming datasets (default: <output>/.cache/datasets)
    extra_args: dict[str, Any] = field(default_factory=dict)  # passed through to SFTConfig / DPOConfig

    def validate(self) -> "TrainConfig":
        if self.phase not in PHASES:
            raise TrainingConfigError(f"--phase must be one of {', '.join(PHASES)}, got {self.phase!r}")
        if self.stage is not None and self.phase not in ("B", "all"):
            raise TrainingConfigError(f"--stage selects an SFT stage (phase B); it cannot be combined with --phase {self.phase}")
        if self.streaming and not self.max_steps:
            raise TrainingConfigError("--streaming needs --max-steps: a streamed dataset has no length, so the "
                                      "trainer cannot know when an epoch ends")
        if self.max_steps is not None and self.max_steps <= 0:
            raise TrainingConfigError("--max-steps must be positive")
        if self.epochs is not None and self.epochs <= 0:
            raise TrainingConfigError("--epochs must be positive")
        if self.lr is not None and self.lr <= 0:
            raise TrainingConfigError("--lr must be positive")
        from lakehouse.training.curriculum import PREFERENCE_METHODS

        if self.preference_method not in PREFERENCE_METHODS:
            raise TrainingConfigError(f"--preference-method must be one of {', '.join(PREFERENCE_METHODS)}, "
                                      f"got {self.preference_method!r}")
        if self.report_to not in REPORT_TO:
            raise TrainingConfigError(f"--report-to must be one of {', '.join(REPORT_TO)}, got {self.report_to!r}")
        for name in ("batch_size", "grad_accum", "max_length", "save_steps", "logging_steps"):
            if getattr(self, name) <= 0:
                raise TrainingConfigError(f"--{name.replace('_', '-')} must be positive")
        if self.threads is not None and self.threads <= 0:
            raise TrainingConfigError("--threads must be positive")
        from lakehouse.training.data import MIX_STRATEGIES

        if self.mix_strategy not in MIX_STRATEGIES:
            raise TrainingConfigError(f"--mix-strategy must be one of {', '.join(MIX_STRATEGIES)}")
        return self

    @property
    def lora_target_modules(self) -> str | list[str]:
        targets = [t.strip() for t in self.lora_targets.split(",") if t.strip()]
        if not targets or targets == ["all-linear"]:
            return "all-linear"
        return targets

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
