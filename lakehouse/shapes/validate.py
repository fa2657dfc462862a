"""Validation policy (``lakehouse/config/validation.yml``) and the checks that apply it.

Checks take cleaned messages (roles already normalized) and return the repaired messages, or a
quarantine reason code: ``empty_turn``, ``non_alternating``, ``misplaced_system``,
``no_assistant_turn``, ``too_few_turns``, ``empty_prompt``, ``prompt_not_ending_with_user``,
``empty_completion``, ``completion_has_user_turn``, ``identical_chosen_rejected``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import MutableMapping

Message = dict[str, str]


@dataclass(frozen=True)
class Policy:
    min_turns: int = 2
    empty_turns: str = "quarantine"  # quarantine | drop
    consecutive_same_role: str = "merge"  # merge | quarantine
    merge_separator: str = "\n\n"
    trim_trailing_user: bool = True
    require_assistant: bool = True
    misplaced_system: str = "quarantine"  # quarantine | user
    reject_identical_pairs: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (("empty_turns", ("quarantine", "drop")),
                              ("consecutive_same_role", ("merge", "quarantine")),
                              ("misplaced_system", ("quarantine", "user"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"validation policy: {name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.min_turns < 1:
            raise ValueError("validation policy: min_turns must be >= 1")


def _parse_policy(text: str) -> Policy:
    import yaml

    data = yaml.safe_load(text) or {}
    known = {f.name for f in fields(Policy)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"validation policy: unknown keys {unknown}; known: {sorted(known)}")
    return Policy(**data)


@lru_cache(maxsize=1)
def _packaged_policy() -> Policy:
    from lakehouse.config import config_path

    return _parse_policy(config_path("validation.yml").read_text(encoding="utf-8"))


def load_policy(path: str | None = None) -> Policy:
    """The policy from ``path``, or the packaged ``lakehouse/config/validation.yml`` (cached). Unknown keys are errors."""
    if path is None:
        return _packaged_policy()
    with open(path, encoding="utf-8") as f:
        return _parse_policy(f.read())


def _bump(repairs: MutableMapping[str, int], key: str, n: int = 1) -> None:
    if n:
        repairs[key] = repairs.get(key, 0) + n


def _drop_or_flag_empty(msgs: list[Message], policy: Policy, repairs: MutableMapping[str, int]) -> list[Message] | str:
    empty = sum(1 for m in msgs if not m["content"])
    if not empty:
        return msgs
    if policy.empty_turns == "quarantine":
        return "empty_turn"
    _bump(repairs, "dropped_empty_turns", empty)
    return [m for m in msgs if m["content"]]


def _merge_runs(msgs: list[Message], policy: Policy, repairs: MutableMapping[str, int]) -> list[Message] | str:
    out: list[Message] = []
    for m in msgs:
        if out and out[-1]["role"] == m["role"]:
            if policy.consecutive_same_role == "quarantine" and m["role"] != "system":
                return "non_alternating"
            out[-1] = {"role": m["role"], "content": out[-1]["content"] + policy.merge_separator + m["content"]}
            _bump(repairs, "merged_turns")
        else:
            out.append(dict(m))
    return out


def _place_system(msgs: list[Message], policy: Policy) -> list[Message] | str:
    started = False
    out: list[Message] = []
    for m in msgs:
        if m["role"] != "system":
            started = True
        elif started:
            if policy.misplaced_system == "quarantine":
                return "misplaced_system"
            m = {"role": "user", "content": m["content"]}
        out.append(m)
    return out


def normalize_turns(msgs: list[Message], policy: Policy, repairs: MutableMapping[str, int]) -> list[Message] | str:
    """Empty turns, system placement and same-role runs, per policy."""
    r = _drop_or_flag_empty(msgs, policy, repairs)
    if isinstance(r, str):
        return r
    r = _place_system(r, policy)
    if isinstance(r, str):
        return r
    return _merge_runs(r, policy, repairs)


def validate_sft(msgs: list[Message], policy: Policy, repairs: MutableMapping[str, int]) -> list[Message] | str:
    """The validated conversation, or a quarantine reason code."""
    r = normalize_turns(msgs, policy, repairs)
    if isinstance(r, str):
        return r
    if policy.trim_trailing_user:
        n = 0
        while r and r[-1]["role"] == "user":
            r.pop()
            n += 1
        _bump(repairs, "trimmed_trailing_user", n)
    if policy.require_assistant and not any(m["role"] == "assistant" for m in r):
        return "no_assistant_turn"
    if sum(1 for m in r if m["role"] != "system") < policy.min_turns:
        return "too_few_turns"
    return r


def validate_prompt(msgs: list[Message], policy: Policy, repairs: MutableMapping[str, int]) -> list[Message] | str:
    r = normalize_turns(msgs, policy, repairs)
    if isinstance(r, str):
        return r
    if not any(m["role"] == "user" for m in r):
        return "empty_prompt"
    if r[-1]["role"] != "user":
        return "prompt_not_ending_with_user"
    return r


def validate_completion(msgs: list[Message], policy: Policy, repairs: MutableMapping[str, int]) -> list[Message] | str:
    """chosen/rejected: non-empty, assistant turns only (consecutive ones merged per policy)."""
    if not msgs:
        return "empty_completion"
    if any(m["role"] != "assistant" for m in msgs):
        return "completion_has_user_turn"
    r = normalize_turns(msgs, policy, repairs)
    if not isinstance(r, str) and not r:
        return "empty_completion"
    return r
