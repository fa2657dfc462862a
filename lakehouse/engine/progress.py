"""Progress of a long stage: rows done, rate and ETA, at most every ``every`` seconds.

Written to stderr (dbt shows it while a model runs) and to the ``lakehouse.engine`` logger.
Lines carry counts only, never text.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("lakehouse.engine")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    def __init__(self, stage: str, total: int | None, every: float = 30.0, unit: str = "records") -> None:
        self.stage, self.total, self.every, self.unit = stage, total, every, unit
        self.done = 0
        self.start = time.monotonic()
        self._last = self.start

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            eta_s = _duration(eta) if eta != float("inf") else "?"
            return (f"[lakehouse] {self.stage}: {self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%), "
                    f"{rate:,.0f}/s, ETA {eta_s}")
        return f"[lakehouse] {self.stage}: {self.done:,} {self.unit}, {rate:,.0f}/s, {_duration(elapsed)} elapsed"

    def _emit(self, text: str) -> None:
        log.info(text)
        print(text, file=sys.stderr, flush=True)

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._emit(self.line())

    def finish(self) -> None:
        elapsed = time.monotonic() - self.start
        if self.done or elapsed >= 1:
            rate = self.done / elapsed if elapsed > 0 else 0.0
            self._emit(f"[lakehouse] {self.stage}: {self.done:,} {self.unit} in {_duration(elapsed)} ({rate:,.0f}/s)")
