"""The seam between the generators and the clinical quality checks (lakehouse.quality).

The generators keep output whose TRAINING TARGETS (therapist turns, chosen replies) pass the quality
package's checks; they never filter client content. lakehouse.quality is imported lazily; when it
is not installed every default filter raises a one-line GeneratorError. Tests and callers inject
their own callables with the same signatures:

    ChatFilter       (messages) -> CheckResult          # edge-case chats: crisis handling + harm
    PreferenceJudge  (prompt, chosen, rejected) -> PreferenceResult
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from lakehouse.generate import GeneratorError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reasons: tuple[tuple[str, str], ...] = ()       # (code, detail): codes and numbers only, never text
    scores: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreferenceResult:
    chosen_passed: bool
    margin: float
    reasons: tuple[tuple[str, str], ...] = ()
    scores: Mapping[str, Any] = field(default_factory=dict)


ChatFilter = Callable[[Messages], CheckResult]
PreferenceJudge = Callable[[Messages, str, str], PreferenceResult]


def pass_all(messages: Messages) -> CheckResult:
    """Keeps everything (tests, and runs that only want to inspect raw generations)."""
    return CheckResult(True, (), {})


def judge_pass_all(margin: float = 1.0) -> PreferenceJudge:
    def judge(prompt: Messages, chosen: str, rejected: str) -> PreferenceResult:
        return PreferenceResult(True, margin, (), {})
    return judge


@functools.lru_cache(maxsize=1)
def _quality() -> Any:
    try:
        return importlib.import_module("lakehouse.quality")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("lakehouse.quality"):
            raise GeneratorError("the generators' filters need lakehouse.quality (crisis-handling, harmful-response and "
                                 "empathy checks), which is not installed in this checkout") from e
        raise


def _api(name: str) -> Callable[..., Any]:
    fn = getattr(_quality(), name, None)
    if not callable(fn):
        raise GeneratorError(f"lakehouse.quality has no {name}(): the generators' filters cannot run with this version")
    return fn


def _thresholds() -> Mapping[str, float]:
    from lakehouse.generate.model import generators_config

    return {"crisis_handling_min": 0.5, "empathy_min": 0.6, **(generators_config().get("filters") or {})}


def _conversation_check(scores: Mapping[str, Any], th: Mapping[str, float]) -> list[tuple[str, str]]:
    reasons: list[tuple[str, str]] = []
    if bool(scores.get("harmful_response")):
        reasons.append(("harmful_response", "true"))
    if bool(scores.get("crisis_disclosure")):
        ch = scores.get("crisis_handling")
        if ch is None or float(ch) < float(th["crisis_handling_min"]):
            reasons.append(("crisis_unhandled", f"crisis_handling={ch}"))
    return reasons


def quality_chat_filter() -> ChatFilter:
    """Therapist turns pass the crisis-handling and harmful-response checks of lakehouse.quality."""
    score = _api("score_conversation")
    th = _thresholds()

    def check(messages: Messages) -> CheckResult:
        s = dict(score(messages))
        reasons = _conversation_check(s, th)
        return CheckResult(not reasons, tuple(reasons), s)

    return check


def quality_preference_judge() -> PreferenceJudge:
    """chosen passes crisis handling, harm and empathy checks; margin from lakehouse.quality."""
    score = _api("score_conversation")
    margin_fn = _api("preference_margin")
    th = _thresholds()

    def judge(prompt: Messages, chosen: str, rejected: str) -> PreferenceResult:
        c = dict(score(prompt + [{"role": "assistant", "content": chosen}]))
        reasons = _conversation_check(c, th)
        emp = c.get("empathy")
        if emp is None or float(emp) < float(th["empathy_min"]):
            reasons.append(("low_empathy", f"empathy={emp}"))
        margin = float(margin_fn(prompt, chosen, rejected))
        return PreferenceResult(not reasons, margin, tuple(reasons), {"chosen": c})

    return judge
