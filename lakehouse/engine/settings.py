"""Execution settings of the per-record engine, from the environment.

These say how work runs, never what it computes: they are not part of any cache key, and a
release is byte-identical whatever they are.

- ``LAKEHOUSE_ENGINE``: ``local`` (default: spawned processes on this machine) or ``ray``
  (a local Ray when ``RAY_ADDRESS`` is unset, else the cluster it names);
- ``LAKEHOUSE_WORKERS``: parallelism of either engine, an integer or ``auto`` (all cores; on Ray,
  the cluster's CPUs). ``0`` or ``1`` runs in-process. ``LAKEHOUSE_PII_WORKERS`` is the old name;
- ``LAKEHOUSE_BATCH_ROWS``: rows per task (default 512);
- ``LAKEHOUSE_PROGRESS_SECONDS``: how often long stages report progress (default 30).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

ENGINES = ("local", "ray")


class EngineConfigError(ValueError):
    """A bad engine setting (one line, names the variable)."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise EngineConfigError(f"{name} must be an integer, got {raw!r}") from e
    if value < minimum:
        raise EngineConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class EngineSettings:
    engine: str = "local"
    workers: int | None = None  # None = auto
    batch_rows: int = 512
    progress_seconds: float = 30.0
    ray_address: str | None = None

    def resolved_workers(self) -> int:
        """Workers for the local engine (``auto`` = all cores; a single core runs in-process)."""
        if self.workers is not None:
            return self.workers
        n = os.cpu_count() or 1
        return n if n > 1 else 0


def engine_settings(env: Mapping[str, str] | None = None) -> EngineSettings:
    env = os.environ if env is None else env
    engine = env.get("LAKEHOUSE_ENGINE", "local").strip().lower() or "local"
    if engine not in ENGINES:
        raise EngineConfigError(f"LAKEHOUSE_ENGINE must be one of {', '.join(ENGINES)}, got {engine!r}")
    raw = (env.get("LAKEHOUSE_WORKERS") or env.get("LAKEHOUSE_PII_WORKERS") or "auto").strip().lower()
    workers: int | None
    if raw == "auto":
        workers = None
    else:
        name = "LAKEHOUSE_WORKERS" if env.get("LAKEHOUSE_WORKERS") else "LAKEHOUSE_PII_WORKERS"
        try:
            workers = int(raw)
        except ValueError as e:
            raise EngineConfigError(f"{name} must be an integer or 'auto', got {raw!r}") from e
        if workers < 0:
            raise EngineConfigError(f"{name} must be >= 0, got {workers}")
    progress = env.get("LAKEHOUSE_PROGRESS_SECONDS", "").strip()
    try:
        progress_seconds = float(progress) if progress else 30.0
    except ValueError as e:
        raise EngineConfigError(f"LAKEHOUSE_PROGRESS_SECONDS must be a number, got {progress!r}") from e
    return EngineSettings(engine=engine, workers=workers, batch_rows=_int(env, "LAKEHOUSE_BATCH_ROWS", 512, 1),
                          progress_seconds=progress_seconds, ray_address=env.get("RAY_ADDRESS") or None)
