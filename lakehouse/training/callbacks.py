"""Trainer callbacks: metrics to CSV + JSON in the output folder (numbers only, never text)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
CSV_FIELDS = ("stage", "step", "epoch", "name", "value")


def _numeric(logs: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in logs.items():
        if k == "epoch" or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            continue
        out[k] = float(v)
    return out


def read_metrics(output: str | os.PathLike[str], stage: str | None = None) -> list[dict[str, Any]]:
    """The logged rows of ``metrics.jsonl`` (optionally one stage's), in order."""
    p = Path(output) / METRICS_JSONL
    if not p.exists():
        return []
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return [r for r in rows if stage is None or r["stage"] == stage]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


class MetricsCallback(TrainerCallback):
    """Append each ``on_log`` to ``metrics.jsonl`` (wide) and ``metrics.csv`` (long: stage, step, epoch, name, value).

    On resume, rows this stage logged after the checkpoint being resumed are dropped first, so the files
    read like one uninterrupted run. ``metrics.json`` keeps a per-stage summary (last value of each metric).
    """

    def __init__(self, output: str | os.PathLike[str], stage: str) -> None:
        self.dir = Path(output)
        self.stage = stage
        self._pruned = False

    def _prune_after(self, step: int) -> None:
        rows = read_metrics(self.dir)
        keep = [r for r in rows if not (r["stage"] == self.stage and r["step"] > step)]
        if len(keep) == len(rows):
            return
        _atomic_write(self.dir / METRICS_JSONL, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep))
        csv_path = self.dir / METRICS_CSV
        if csv_path.exists():
            with open(csv_path, newline="") as f:
                crow = [r for r in csv.DictReader(f)
                        if not (r["stage"] == self.stage and int(r["step"]) > step)]
            tmp = csv_path.with_name(csv_path.name + f".tmp-{os.getpid()}")
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
                w.writeheader()
                w.writerows(crow)
            os.replace(tmp, csv_path)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and not self._pruned:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._prune_after(int(state.global_step))
            self._pruned = True

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        values = _numeric(logs)
        if not values:
            return
        row = {"stage": self.stage, "step": int(state.global_step), "epoch": state.epoch, **values}
        with open(self.dir / METRICS_JSONL, "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        csv_path = self.dir / METRICS_CSV
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            if new:
                w.writeheader()
            for name, value in sorted(values.items()):
                w.writerow({"stage": self.stage, "step": row["step"], "epoch": state.epoch, "name": name, "value": value})
        self._update_summary(row)

    def _update_summary(self, row: dict[str, Any]) -> None:
        p = self.dir / METRICS_JSON
        summary = json.loads(p.read_text()) if p.exists() else {"stages": {}}
        st = summary["stages"].setdefault(self.stage, {})
        st.update({k: v for k, v in row.items() if k != "stage"})
        _atomic_write(p, json.dumps(summary, indent=2, sort_keys=True))


class StopAtStepCallback(TrainerCallback):
    """Stop (after saving a checkpoint) once ``global_step`` reaches ``step``; the stage stays unfinished."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
        return control
