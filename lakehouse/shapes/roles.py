"""Raw speaker names -> ``system`` / ``user`` / ``assistant``. Unknown names are never guessed."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping

_ALIASES: dict[str, tuple[str, ...]] = {
    "system": ("system", "system prompt"),
    "user": (
        "user", "human", "client", "patient", "seeker", "help seeker", "usr", "customer", "prompter",
        "questioner", "asker", "member", "visitor", "caller", "texter", "counselee",
    ),
    "assistant": (
        "assistant", "gpt", "therapist", "counselor", "counsellor", "supporter", "sys", "bot", "model",
        "chatgpt", "ai", "chatbot", "psychologist", "psychotherapist", "psychiatrist", "doctor", "coach",
        "helper", "agent", "responder", "volunteer", "listener support", "gpt4", "gpt 4", "gpt 3.5",
        "bard", "claude", "llm",
    ),
}

# Short speaker codes only accepted as transcript labels ("T1:", "C2:", "Th:"), not as role values.
_TRANSCRIPT_CODES: dict[str, str] = {"t": "assistant", "th": "assistant", "c": "user", "cl": "user", "pt": "user"}

ROLE_ALIASES: dict[str, str] = {alias: role for role, names in _ALIASES.items() for alias in names}


def norm_label(raw: str) -> str:
    """Lower-case, separators to single spaces, surrounding punctuation stripped."""
    s = re.sub(r"[\s_\-]+", " ", str(raw).strip().lower())
    return s.strip(" .:*#[]()<>\"'")


def _strip_number(label: str) -> str:
    return re.sub(r"\s*\d+$", "", label)


@lru_cache(maxsize=64)
def _role_map(items: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {norm_label(k): v for k, v in items}


def compile_role_map(role_map: Mapping[str, str] | None) -> dict[str, str]:
    """Normalized user overrides (keys via :func:`norm_label`)."""
    if not role_map:
        return {}
    return _role_map(tuple(sorted(role_map.items())))


def normalize_role(raw: object, role_map: Mapping[str, str] | None = None, transcript: bool = False) -> str | None:
    """``system``/``user``/``assistant``, or None when the name is neither known nor mapped.

    Lookup order: user ``role_map``, built-in aliases, the same with a trailing number removed
    ("Client 2"), and for transcripts the short codes T/Th (therapist) and C/Cl/Pt (client).
    A ``role_map`` value that is not one of the three roles (e.g. ``"drop"``) is returned as is.
    """
    if raw is None:
        return None
    label = norm_label(str(raw))
    if not label:
        return None
    overrides = compile_role_map(role_map)
    for cand in (label, _strip_number(label)):
        if cand in overrides:
            return overrides[cand]
        if cand in ROLE_ALIASES:
            return ROLE_ALIASES[cand]
    if transcript:
        return _TRANSCRIPT_CODES.get(_strip_number(label))
    return None


def is_known_role(raw: object, role_map: Mapping[str, str] | None = None) -> bool:
    return normalize_role(raw, role_map) is not None
