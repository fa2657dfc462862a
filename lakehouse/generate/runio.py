"""Resumable, append-only JSONL output for the generators, and progress with rate and ETA on stderr.

Every record carries ``metadata.generation_key``. A run appends to ``FILE.jsonl`` and, for keys it
tried but did not keep (filtered out, margin too low), a line ``{"key", "status", "reasons"}`` to
``FILE.jsonl.state`` (keys and reason codes only, never text). An interrupted run is resumed by
running the same command again: a torn last line is cut off, keys already in either file are skipped,
and a run with different settings (model, seed, sampling, templates) is refused with a one-line error
rather than mixing two runs in one file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from lakehouse.generate import GeneratorError

STATE_SUFFIX = ".state"


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (an interrupted write) so appends stay valid JSON Lines."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        size = f.seek(0, os.SEEK_END)
        pos = size
        block = 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                f.truncate(start + i + 1)
                return
            pos = start
        f.truncate(0)


class ResumableOutput:
    """Append-only output with key skipping. ``signature``: the settings a resumed run must share."""

    def __init__(self, path: str | os.PathLike[str], signature: Mapping[str, Any]) -> None:
        self.path = Path(path)
        if str(path).startswith("s3://"):
            raise GeneratorError("--output must be a local file (append-only, resumable); land it to S3 with `lakehouse land`")
        self.state_path = self.path.with_name(self.path.name + STATE_SUFFIX)
        self.signature = dict(signature)
        self.done: set[str] = set()
        self.written = 0
        self.skipped = 0
        self.resumed = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for p in (self.path, self.state_path):
            _repair_tail(p)
        self._load()
        self._out = open(self.path, "a", encoding="utf-8")
        self._state = open(self.state_path, "a", encoding="utf-8")
        if self.state_path.stat().st_size == 0:
            self._state_line({"signature": self.signature})

    def _check(self, found: Mapping[str, Any], where: str) -> None:
        diff = sorted(k for k in self.signature if k in found and found[k] != self.signature[k])
        if diff:
            k = diff[0]
            raise GeneratorError(f"{where} was written by a different run ({k}: {found[k]!r} != {self.signature[k]!r}): "
                                 "use a new --output file, or the same settings to resume")

    def _load(self) -> None:
        if self.state_path.exists():
            with open(self.state_path, encoding="utf-8") as f:
                for n, line in enumerate(f):
                    if not line.strip():
                        continue
                    obj = json.loads(line)
                    if n == 0 and "signature" in obj:
                        self._check(obj["signature"], str(self.state_path))
                    elif obj.get("key"):
                        self.done.add(str(obj["key"]))
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        meta = json.loads(line).get("metadata") or {}
                    except json.JSONDecodeError as e:
                        raise GeneratorError(f"{self.path}:{n} is not JSON: not a generator output file") from e
                    key = meta.get("generation_key")
                    if not key:
                        raise GeneratorError(f"{self.path}:{n} has no metadata.generation_key: not a generator output file")
                    if n == 1:
                        self._check(meta, str(self.path))
                    self.done.add(str(key))
        self.resumed = len(self.done)

    def _state_line(self, obj: Mapping[str, Any]) -> None:
        self._state.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
        self._state.flush()

    def has(self, key: str) -> bool:
        return key in self.done

    def write(self, key: str, record: Mapping[str, Any]) -> None:
        """Append one record (its metadata.generation_key must be ``key``), flushed and fsynced."""
        self._out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._out.flush()
        os.fsync(self._out.fileno())
        self._state_line({"key": key, "status": "written"})
        self.done.add(key)
        self.written += 1

    def skip(self, key: str, status: str, reasons: list[list[str]] | None = None) -> None:
        """Remember a key that was tried and not kept (codes only, never text)."""
        self._state_line({"key": key, "status": status, "reasons": reasons or []})
        self.done.add(key)
        self.skipped += 1

    def close(self) -> None:
        self._out.close()
        self._state.close()

    def __enter__(self) -> "ResumableOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress:
    """``label: done/total (rate/s, ETA)`` on stderr: a rich bar on a terminal, else a line every few seconds."""

    def __init__(self, label: str, total: int, *, enabled: bool = True, every_s: float = 5.0) -> None:
        self.label, self.total, self.enabled, self.every_s = label, total, enabled, every_s
        self.n = 0
        self.base = 0  # items done before this run (resumed): not part of the rate
        self.t0 = time.monotonic()
        self._last = 0.0
        self._rich: Any = None
        self._task: Any = None

    def __enter__(self) -> "Progress":
        if self.enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TaskProgressColumn,
                                       TextColumn, TimeRemainingColumn)

            self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[rate]}"), TaskProgressColumn(), TimeRemainingColumn(),
                                      console=Console(stderr=True))
            self._rich.__enter__()
            self._task = self._rich.add_task(self.label, total=self.total or None, rate="")
        return self

    def rate(self) -> float:
        dt = time.monotonic() - self.t0
        return (self.n - self.base) / dt if dt > 0 else 0.0

    def skip(self, k: int = 1) -> None:
        """Count items already done by an earlier run (they do not inflate the rate)."""
        self.base += k
        self.advance(k)

    def line(self) -> str:
        r = self.rate()
        if not self.total:
            return f"{self.label}: {self.n} ({r:.2f}/s)"
        eta = (self.total - self.n) / r if r > 0 else float("nan")
        eta_s = f"{eta:.0f}s" if eta == eta else "?"
        return f"{self.label}: {self.n}/{self.total} ({r:.2f}/s, ETA {eta_s})"

    def advance(self, k: int = 1) -> None:
        self.n += k
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, advance=k, rate=f"{self.rate():.2f}/s")
            return
        now = time.monotonic()
        if now - self._last >= self.every_s or (self.total and self.n >= self.total):
            self._last = now
            print(self.line(), file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)
