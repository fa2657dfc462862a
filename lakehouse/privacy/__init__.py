"""PII redaction for conversation records (Presidio + spaCy, tuned for crisis counselling text).

Importing this package is cheap: spaCy/Presidio load on a Redactor's first use.

    from lakehouse.privacy import get_redactor
    res = get_redactor().redact_conversations([[{"role": "user", "content": "I'm Sarah, call 555-201-3344"}]])
    res[0].messages, res[0].pii_status, res[0].counts   # "<PERSON_1>", "redacted", {"PERSON": 1, ...}

Settings live in lakehouse/config/privacy.yml; ``PrivacyConfig.config_hash`` goes into provenance.
"""

from __future__ import annotations

from .config import PrivacyConfig, PrivacyConfigError, load_privacy_config
from .findings import Finding
from .policy import CLEAN, PII_STATUSES, REDACTED, REQUIRES_REVIEW, pii_status
from .redactor import RedactionResult, Redactor, get_redactor

__all__ = [
    "CLEAN", "PII_STATUSES", "REDACTED", "REQUIRES_REVIEW", "Finding", "PrivacyConfig", "PrivacyConfigError",
    "RedactionResult", "Redactor", "get_redactor", "load_privacy_config", "pii_status",
]
