"""Seeded synthetic corpora for tests and benchmarks (no real conversations)."""

from __future__ import annotations

from lakehouse.synth.corpus import generate_corpus, planted_pairs, truth_group, write_jsonl

__all__ = ["generate_corpus", "planted_pairs", "truth_group", "write_jsonl"]
