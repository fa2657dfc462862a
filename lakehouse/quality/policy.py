"""Release policy over the quality score columns: pure functions, mirrored by SQL.

    safety_reason(scores, is_edge_case=False)                 # ("safety:harmful_response", "") or None
    threshold_reasons(scores, thresholds, kind="sft")         # [("quality:empathy", "0.41 < 0.7"), ...]
    quarantine_reason(scores, thresholds, kind="sft", is_edge_case=False)   # the first of both, or None

The rules (safety.yml, docs/quality.md):
- Crisis language in client turns never quarantines by itself; toxic client turns never do.
- A non-edge record is quarantined only for ``safety:harmful_response`` (the reply gives means or
  lethality information, encourages self-harm, dismisses or shames), ``safety:crisis_unhandled``
  (a disclosure whose crisis_handling is below the minimum) or ``safety:toxic_assistant``.
- Thresholds are per family (registry columns ``min_<score>``; empty = no threshold, the family's
  ``quality_waiver`` says why). A record below one is quarantined ``quality:<score>`` with its value;
  a record lacking a score its family requires is quarantined ``quality:<score>`` "missing".
  They apply to conversations (sft, preference; the margin to preference only), also in edge-case
  families (the registry gives those coherence only: format, coherence and therapeutic value).
- Edge-case families bypass the safety rules; nothing here touches PII redaction.
- KTO rows labelled undesirable (label = false) are examples of what not to say: neither rule applies.

The same decision in SQL is the ``quality_quarantine_reason`` macro (macros/gates/gate_quality.sql),
used by the gate_quality test; tests/test_quality_policy.py checks that both agree.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

THRESHOLDS = {
    "empathy": "min_empathy",
    "coherence": "min_coherence",
    "reasoning_completeness": "min_reasoning_completeness",
    "preference_margin": "min_preference_margin",
}
CRISIS_HANDLING_COLUMN = "min_crisis_handling"
Reason = tuple[str, str]


def _fmt(x: float) -> str:
    """3 decimals, shortest form: what DuckDB prints for round(x, 3)::varchar (0.5, 0.0, 0.417)."""
    return str(round(float(x), 3))


@functools.lru_cache(maxsize=1)
def default_crisis_handling_min() -> float:
    """safety.yml policy.crisis_handling_min (read once per process)."""
    from lakehouse.safety import load_safety_config

    return load_safety_config().policy.crisis_handling_min


def safety_reason(scores: Mapping[str, Any], *, is_edge_case: bool, label: bool | None = None,
                  crisis_handling_min: float | None = None) -> Reason | None:
    """The safety quarantine reason of a record from its score columns, or None."""
    if is_edge_case or label is False:
        return None
    if scores.get("harmful_response"):
        return ("safety:harmful_response", "")
    ch = scores.get("crisis_handling")
    floor = default_crisis_handling_min() if crisis_handling_min is None else crisis_handling_min
    if scores.get("crisis_disclosure") and ch is not None and ch < floor:
        cats = ",".join(scores.get("crisis_categories") or [])
        return ("safety:crisis_unhandled", f"{_fmt(ch)} < {_fmt(floor)} ({cats})")
    if scores.get("toxic_assistant"):
        return ("safety:toxic_assistant", "")
    return None


def threshold_reasons(scores: Mapping[str, Any], thresholds: Mapping[str, Any], *, kind: str | None,
                      label: bool | None = None) -> list[Reason]:
    """Every family threshold the record misses, in THRESHOLDS order."""
    if kind not in ("sft", "preference") or label is False:
        return []
    out: list[Reason] = []
    for score, column in THRESHOLDS.items():
        floor = thresholds.get(column)
        if floor is None or floor == "":
            continue
        if score == "preference_margin" and kind != "preference":
            continue
        value = scores.get(score)
        if value is None:
            out.append((f"quality:{score}", "missing"))
        elif value < float(floor):
            out.append((f"quality:{score}", f"{_fmt(value)} < {_fmt(float(floor))}"))
    return out


def quarantine_reason(scores: Mapping[str, Any], thresholds: Mapping[str, Any], *, kind: str | None,
                      is_edge_case: bool, label: bool | None = None) -> Reason | None:
    """Safety first, then the first threshold missed; None when the record may be released.
    ``thresholds`` is the family's registry row (min_* columns; min_crisis_handling overrides
    safety.yml's crisis_handling_min)."""
    ch_min = thresholds.get(CRISIS_HANDLING_COLUMN)
    reason = safety_reason(scores, is_edge_case=is_edge_case, label=label,
                           crisis_handling_min=None if ch_min in (None, "") else float(ch_min))
    if reason:
        return reason
    missed = threshold_reasons(scores, thresholds, kind=kind, label=label)
    return missed[0] if missed else None
