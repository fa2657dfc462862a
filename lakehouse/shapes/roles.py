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


# -- roles inferred from turn order ------------------------------------------------------------------
class RoleInference:
    """What turn order says about speaker codes that are not role names.

    ``role_map`` is set (opener -> user, the other -> assistant) only when it is unambiguous; else
    ``codes`` lists the unmapped codes and ``reason`` says why nothing was inferred.
    """

    __slots__ = ("codes", "role_map", "reason")

    def __init__(self, codes: tuple[str, ...], role_map: dict[str, str] | None, reason: str) -> None:
        self.codes = codes
        self.role_map = role_map
        self.reason = reason

    @property
    def ambiguous(self) -> bool:
        return bool(self.codes) and self.role_map is None

    def suggestion(self) -> str:
        """A ``--role-map`` to pass (opener first as user), for messages."""
        roles = ("user", "assistant")
        return ",".join(f"{c}={roles[i] if i < 2 else 'user|assistant'}" for i, c in enumerate(self.codes))


def infer_roles(conversations: list[list[object]], role_map: Mapping[str, str] | None = None) -> RoleInference | None:
    """Roles of speaker codes from turn order; None when every label is already a role (or mapped).

    ``conversations`` holds the raw speaker label of each turn, conversation by conversation.
    Unambiguous means: apart from (known) system turns, the labels are exactly two codes that are
    not role names, every conversation strictly alternates between them, every conversation with
    two or more turns opens with the same code, and at least one has two or more turns. The opener
    is the user (one party opens, the other answers); the other code is the assistant.
    """
    seqs: list[list[str]] = []
    unknown: list[str] = []
    known_dialogue = False
    for conv in conversations:
        seq = []
        for raw in conv:
            if raw is None:
                continue
            label = str(raw).strip()
            role = normalize_role(label, role_map)
            if role == "system":
                continue
            if role is not None:
                known_dialogue = True
                continue
            if label not in unknown:
                unknown.append(label)
            seq.append(label)
        seqs.append(seq)
    if not unknown:
        return None
    codes = tuple(unknown)

    def no(reason: str) -> RoleInference:
        return RoleInference(codes, None, reason)

    if known_dialogue:
        return no("they are mixed with user/assistant role names")
    if len(codes) != 2:
        return no(f"{len(codes)} speaker codes, expected 2")
    multi = [s for s in seqs if len(s) >= 2]
    if not multi:
        return no("no conversation has two turns")
    if any(a == b for s in seqs for a, b in zip(s, s[1:])):
        return no("one speaker takes consecutive turns")
    openers = {s[0] for s in multi}
    if len(openers) != 1:
        return no("conversations open with different speakers")
    opener = next(iter(openers))
    other = codes[1] if codes[0] == opener else codes[0]
    return RoleInference(codes, {opener: "user", other: "assistant"},
                         f"'{opener}' opens every conversation and '{other}' answers in strict alternation")
