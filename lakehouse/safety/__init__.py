"""Safety lexicon: crisis / toxicity flags for non-edge-case records, and the quarantine policy.

    from lakehouse.safety import get_safety_checker, load_safety_config, safety_decision
    cfg = load_safety_config()
    flags = get_safety_checker(cfg).check(["I want to kill myself"])[0]   # crisis=True, ["suicide"]
    safety_decision(flags, is_edge_case=False, policy=cfg.policy)         # None: crisis never quarantines
    safety_decision(SafetyFlags(toxicity=True), is_edge_case=False, policy=cfg.policy)  # "safety:toxicity"

Crisis language in client turns never quarantines by itself; the reply is judged instead
(harmful_response, crisis_handling: lakehouse.quality, decision in lakehouse.quality.policy).
Lexicon and policy: lakehouse/config/safety.yml. A model plugs in through the SafetyChecker protocol.
"""

from __future__ import annotations

from .config import AttributionRules, Category, DisclosureRules, SafetyConfig, SafetyConfigError, SafetyPolicy, load_safety_config
from .lexicon import (
    CompositeSafetyChecker,
    LexiconSafetyChecker,
    SafetyChecker,
    SafetyFlags,
    check_conversations,
    get_safety_checker,
    merge_flags,
)
from .policy import safety_decision

__all__ = [
    "AttributionRules", "Category", "CompositeSafetyChecker", "DisclosureRules", "LexiconSafetyChecker", "SafetyChecker", "SafetyConfig",
    "SafetyConfigError", "SafetyFlags", "SafetyPolicy", "check_conversations", "get_safety_checker",
    "load_safety_config", "merge_flags", "safety_decision",
]
