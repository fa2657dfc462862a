"""Near-dedup settings from ``lakehouse/config/dedup.yml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "config" / "dedup.yml"
# Settings of the former datasketch MinHashLSH worker processes; candidate generation is now
# band-sequential numpy in the calling process (see lakehouse.dedup.near), so they have no meaning.
REMOVED = ("lsh_workers", "worker_min_rows")


@dataclass(frozen=True)
class DedupConfig:
    """Near-dedup knobs; see ``dedup.yml`` for what each one does."""

    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 3
    lsh_weights: tuple[float, float] = (0.1, 0.9)
    lsh_all_pairs_max: int = 64
    chunk_bytes: int = 1_000_000
    slice_rows: int = 4096
    short_text_tokens: int = 32
    char_ngram: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.num_perm < 2:
            raise ValueError(f"num_perm must be >= 2, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if len(self.lsh_weights) != 2 or abs(sum(self.lsh_weights) - 1.0) > 1e-9:
            raise ValueError(f"lsh_weights must be two numbers summing to 1, got {self.lsh_weights}")
        if self.short_text_tokens < 0 or self.char_ngram < 1:
            raise ValueError("short_text_tokens must be >= 0 and char_ngram >= 1")
        for name in ("chunk_bytes", "slice_rows", "lsh_all_pairs_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def config_from_mapping(data: Mapping[str, Any]) -> DedupConfig:
    """Build a :class:`DedupConfig` from the ``near_dedup`` mapping (unknown keys are an error)."""
    known = set(DedupConfig.__dataclass_fields__)
    removed = sorted(set(data) & set(REMOVED))
    if removed:
        raise ValueError(
            f"near_dedup settings {removed} were removed: LSH candidates are generated band by band with "
            "numpy in the calling process, without worker processes; delete them from the config"
        )
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown near_dedup settings: {sorted(unknown)}")
    kwargs = dict(data)
    if "lsh_weights" in kwargs:
        kwargs["lsh_weights"] = tuple(float(w) for w in kwargs["lsh_weights"])
    return DedupConfig(**kwargs)


def load_dedup_config(path: str | Path | None = None) -> DedupConfig:
    """Read the ``near_dedup`` section of ``path`` (default: the packaged ``dedup.yml``)."""
    import yaml

    from lakehouse.config import config_path

    with open(path or config_path("dedup.yml"), encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    return config_from_mapping(doc.get("near_dedup") or {})
