"""Clinician QA and release signoff: sample a release for review, record decisions, report bias, sign off.

    lakehouse qa sample latest --per-family 20        # reviews/<v>/qa_samples.csv + index.html
    lakehouse qa record decisions.csv --reviewer dr_lee   # Delta reviews/decisions (no message text)
    lakehouse release signoff latest --reviewer lead --decision approve

Decisions flow back into the next build through the dbt source ``reviews/decisions``
(models/release/staging/stg_lakehouse__review_decisions.sql, int_review_verdicts.sql).
See docs/review.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ReviewError": "lakehouse.review.release", "bias_batch": "lakehouse.review.bias",
    "bias_report": "lakehouse.review.bias", "load_bias_report": "lakehouse.review.bias",
    "record_bias": "lakehouse.review.bias", "load_bias_config": "lakehouse.review.config",
    "load_rubric": "lakehouse.review.config", "draw_sample": "lakehouse.review.sample",
    "record_decisions": "lakehouse.review.record", "load_decisions": "lakehouse.review.record",
    "sign_off": "lakehouse.review.signoff", "signoff_state": "lakehouse.review.signoff",
    "require_signoff": "lakehouse.review.signoff",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # importing the package stays cheap (the CLI mounts it on every run)
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
