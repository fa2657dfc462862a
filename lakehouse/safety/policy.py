"""Quarantine decision from safety flags."""

from __future__ import annotations

from .config import SafetyConfig, SafetyPolicy
from .lexicon import SafetyFlags


def safety_decision(flags: SafetyFlags, *, is_edge_case: bool, policy: SafetyPolicy | SafetyConfig) -> str | None:
    """Quarantine reason ("safety:<kind>" for the kinds in policy.quarantine_kinds) or None.

    With the shipped safety.yml only toxicity (counted from assistant turns) quarantines: crisis
    language never does by itself. The full decision over the quality scores (harmful response,
    unhandled crisis, toxic assistant) is lakehouse.quality.policy.safety_reason.

    Training edge cases (is_training_edge_case) bypass every safety, toxicity and crisis filter;
    they are never exempt from PII redaction, which is not decided here.
    """
    if is_edge_case:
        return None
    pol = policy.policy if isinstance(policy, SafetyConfig) else policy
    if flags.toxicity and "toxicity" in pol.quarantine_kinds:
        return "safety:toxicity"
    if flags.crisis and "crisis" in pol.quarantine_kinds:
        return "safety:crisis"
    return None
