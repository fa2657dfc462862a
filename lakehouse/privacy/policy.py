"""pii_status of a redaction scope: clean, redacted or requires_review (privacy.yml ``review``)."""

from __future__ import annotations

from typing import Iterable

from .config import PrivacyConfig
from .findings import Finding

CLEAN = "clean"
REDACTED = "redacted"
REQUIRES_REVIEW = "requires_review"
PII_STATUSES = (CLEAN, REDACTED, REQUIRES_REVIEW)


def needs_review(f: Finding, config: PrivacyConfig) -> bool:
    """True if this finding alone sends its scope to human review."""
    if f.entity_type in config.review_entity_types:
        return True
    return any(f.entity_type in b.entity_types and b.min_score <= f.score < b.max_score for b in config.review_bands)


def pii_status(findings: Iterable[Finding], config: PrivacyConfig) -> str:
    """clean (nothing found), requires_review (a review rule matched), else redacted."""
    status = CLEAN
    for f in findings:
        if needs_review(f, config):
            return REQUIRES_REVIEW
        status = REDACTED
    return status
