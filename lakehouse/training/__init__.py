"""Training on a release: continued pretraining (A), curriculum SFT stages (B), DPO (C).

Entry points: ``lakehouse train`` / ``python -m lakehouse.training`` (cli.py), or from Python::

    from lakehouse.training import TrainConfig, run_training
    run_training(TrainConfig(release="v2026-11-22", model="models/base", output="runs/r1"))

This package imports nothing heavy at import time; torch / transformers / trl load when training starts.
"""

from __future__ import annotations

from typing import Any

from lakehouse.training.config import TrainConfig, TrainingConfigError

__all__ = ["TrainConfig", "TrainingConfigError", "run_training", "build_tiny_model"]


def run_training(*args: Any, **kwargs: Any) -> Any:
    from lakehouse.training.runner import run_training as _run

    return _run(*args, **kwargs)


def build_tiny_model(*args: Any, **kwargs: Any) -> Any:
    from lakehouse.training.tiny import build_tiny_model as _build

    return _build(*args, **kwargs)
