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


def _api(module: str, name: str) -> Callable[..., Any]:
    _quality()
    try:
        fn = getattr(importlib.import_module(f"lakehouse.quality.{module}"), name, None)
    except ModuleNotFoundError:
        fn = None
    if not callable(fn):
        raise GeneratorError(f"lakehouse.quality.{module} has no {name}(): the generators' filters cannot run with this version")
    return fn


def registry_row(family: str) -> dict[str, str]:
    """The family's row of seeds/release/dataset_registry.csv ({} when absent)."""
    import csv
    import os
    from pathlib import Path

    env = os.environ.get("LAKEHOUSE_PROJECT_DIR")
    here = Path(__file__).resolve().parents[2]
    base = Path(env) if env else here if (here / "dbt_project.yml").exists() else Path.cwd()
    path = base / "seeds" / "release" / "dataset_registry.csv"
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return next((dict(r) for r in csv.DictReader(f) if r.get("family") == family), {})


def _settings() -> Mapping[str, Any]:
    from lakehouse.generate.model import generators_config

    return {"empathy_min": 0.6, **(generators_config().get("filters") or {})}


def _reasons(scores: Mapping[str, Any], family: str, kind: str) -> list[tuple[str, str]]:
    """What the release build would say about these scores for a NON-edge record of ``family``: the
    safety rules (harmful response, crisis unhandled, toxic assistant) and the family's thresholds.
    The generated turns are training targets, so the edge-case bypass does not apply to them."""
    safety_reason = _api("policy", "safety_reason")
    threshold_reasons = _api("policy", "threshold_reasons")
    row = registry_row(family)
    ch_min = (row.get("min_crisis_handling") or "").strip()
    out: list[tuple[str, str]] = []
    r = safety_reason(scores, is_edge_case=False, crisis_handling_min=float(ch_min) if ch_min else None)
    if r:
        out.append((str(r[0]), str(r[1])))
    out += [(str(a), str(b)) for a, b in threshold_reasons(scores, row, kind=kind)]
    return out


def _scorer(overrides: Mapping[str, Any]) -> Any:
    return _api("scorers", "get_scorer")(**overrides)


def quality_chat_filter(family: str = "edge_case_resulting_chats", **scorer_overrides: Any) -> ChatFilter:
    """Therapist turns pass lakehouse.quality's crisis-handling, harmful-response (and toxic-assistant)
    checks, and the family's registry thresholds (coherence for the edge-case families)."""
    record_cls = _api("scorers", "Record")
    scorer = _scorer(scorer_overrides)  # quality.yml, as the build uses it, unless overridden

    def check(messages: Messages) -> CheckResult:
        s = dict(scorer.score_records([record_cls(kind="sft", messages=messages)])[0])
        reasons = _reasons(s, family, "sft")
        return CheckResult(not reasons, tuple(reasons), s)

    return check


def quality_preference_judge(family: str = "preference_pairs", **scorer_overrides: Any) -> PreferenceJudge:
    """``chosen`` (after the prompt) passes the safety rules and has empathy >= filters.empathy_min
    (generators.yml); the margin is lakehouse.quality's preference_margin of the pair."""
    record_cls = _api("scorers", "Record")
    scorer = _scorer(scorer_overrides)  # quality.yml, as the build uses it, unless overridden
    empathy_min = float(_settings()["empathy_min"])

    def judge(prompt: Messages, chosen: str, rejected: str) -> PreferenceResult:
        rec = record_cls(kind="preference", prompt=prompt, chosen=[{"role": "assistant", "content": chosen}],
                         rejected=[{"role": "assistant", "content": rejected}])
        s = dict(scorer.score_records([rec])[0])
        reasons = [r for r in _reasons(s, family, "preference") if r[0] != "quality:preference_margin"]
        emp = s.get("empathy")
        if emp is None or float(emp) < empathy_min:
            reasons.append(("low_empathy", f"{emp} < {empathy_min}"))
        margin = s.get("preference_margin")
        return PreferenceResult(not reasons, float(margin) if margin is not None else float("-inf"), tuple(reasons), s)

    return judge
