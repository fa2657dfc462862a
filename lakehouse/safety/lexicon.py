"""Lexicon safety checker and the pluggable SafetyChecker protocol."""

from __future__ import annotations

import importlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from .config import Category, SafetyConfig, SafetyConfigError, load_safety_config

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_SENTENCE_END = re.compile(r"[.!?;:\n]+")
_QUOTED = re.compile(r"\"[^\"]{0,300}\"|\u201c[^\u201d]{0,300}\u201d")


@dataclass(frozen=True)
class SafetyFlags:
    """Result for one text: crisis / toxicity flags and the matched category names (sorted)."""

    crisis: bool = False
    toxicity: bool = False
    categories: list[str] = field(default_factory=list)


@runtime_checkable
class SafetyChecker(Protocol):
    def check(self, texts: list[str]) -> list[SafetyFlags]: ...


def normalize(text: str) -> str:
    """NFKC, lowercase, straight apostrophes, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower().split())


def phrase_regex(phrase: str) -> str:
    """Whole-word, whitespace-tolerant regex for a literal phrase (``\\b`` at word-character ends:
    same matches as a look-around, several times faster on long texts)."""
    norm = normalize(phrase)
    words = [re.escape(w) for w in norm.split()]
    if not words:
        return r"(?!x)x"
    head = r"\b" if re.match(r"\w", norm) else r"(?<![\w])"
    tail = r"\b" if re.search(r"\w$", norm) else r"(?![\w])"
    return head + r"\s+".join(words) + tail


def compile_category(cat: Category) -> re.Pattern[str] | None:
    """One regex per category, matched against normalize()d (lowercase) text; case-insensitive only
    when a raw pattern has an upper-case letter (IGNORECASE is slower)."""
    parts = [phrase_regex(p) for p in cat.phrases] + [f"(?:{p})" for p in cat.patterns]
    if not parts:
        return None
    flags = re.IGNORECASE if any(re.search(r"(?<!\\)[A-Z]", p) for p in cat.patterns) else 0
    try:
        return re.compile("|".join(parts), flags)
    except re.error as e:
        raise SafetyConfigError(f"safety category {cat.name!r}: bad pattern: {e}") from e


def flags_from_categories(names: Sequence[str], kinds: Mapping[str, str]) -> SafetyFlags:
    cats = sorted(set(names))
    return SafetyFlags(crisis=any(kinds.get(c) == "crisis" for c in cats),
                       toxicity=any(kinds.get(c) == "toxicity" for c in cats), categories=cats)


class LexiconSafetyChecker:
    """Flags texts matching safety.yml phrase lists / regexes. Pure regex: fast, no model."""

    def __init__(self, config: SafetyConfig | None = None):
        self.config = config or load_safety_config()
        self.kinds = {c.name: c.kind for c in self.config.categories}
        self._rx = [(c.name, rx) for c in self.config.categories if (rx := compile_category(c)) is not None]
        dis = self.config.disclosure
        try:
            self._neg = re.compile(dis.negation)
            self._neg_exc = re.compile(dis.exceptions) if dis.exceptions else None
            self._hist = re.compile(dis.historical) if dis.historical else None
            self._third = re.compile(dis.third_party) if dis.third_party else None
        except re.error as e:
            raise SafetyConfigError(f"safety disclosure: bad pattern: {e}") from e
        self._window = dis.window
        try:
            self._att = re.compile(self.config.attribution.pattern) if self.config.attribution.pattern else None
        except re.error as e:
            raise SafetyConfigError(f"safety attribution: bad pattern: {e}") from e
        self._att_window = self.config.attribution.window

    def attributed(self, text: str, start: int) -> bool:
        """Whether a toxicity hit at ``start`` is reported speech / hypothetical / negated."""
        if self._att is None or self._att_window <= 0:
            return False
        head = _SENTENCE_END.split(text[:start])[-1].split()[-self._att_window:]
        return bool(head) and bool(self._att.search(" ".join(head)))

    def negated(self, norm: str, start: int) -> bool:
        """Whether a crisis hit at ``start`` of normalized text is negated ("I've never tried suicide")."""
        head = _SENTENCE_END.split(norm[:start])[-1].split()[-self._window:] if self._window > 0 else []
        if not head:
            return False
        window = " ".join(head)
        return bool(self._neg.search(window)) and not (self._neg_exc and self._neg_exc.search(window))

    def current_categories(self, text: str) -> list[str]:
        """Crisis categories with a non-negated hit in a sentence that is not about the past or about
        someone else (safety.yml `disclosure.historical` / `third_party`): what an acute-risk check
        should look at."""
        norm = normalize(text)
        out = []
        for name, rx in self._rx:
            if self.kinds[name] != "crisis":
                continue
            for m in rx.finditer(norm):
                if self.negated(norm, m.start()):
                    continue
                start = max((x.end() for x in _SENTENCE_END.finditer(norm, 0, m.start())), default=0)
                end_m = _SENTENCE_END.search(norm, m.end())
                sentence = norm[start:end_m.start() if end_m else len(norm)]
                if not ((self._hist and self._hist.search(sentence)) or (self._third and self._third.search(sentence))):
                    out.append(name)
                    break
        return out

    def categories_of(self, text: str) -> list[str]:
        """Names of the categories whose lexicon matches the text; a crisis category only when one of
        its hits is not negated (see safety.yml `disclosure`)."""
        norm = normalize(text)
        out = []
        for name, rx in self._rx:
            if self.kinds[name] == "crisis":
                if any(not self.negated(norm, m.start()) for m in rx.finditer(norm)):
                    out.append(name)
            else:
                unquoted = _QUOTED.sub(" ", norm)
                if any(not self.attributed(unquoted, m.start()) for m in rx.finditer(unquoted)):
                    out.append(name)
        return out

    def check(self, texts: list[str]) -> list[SafetyFlags]:
        return [flags_from_categories(self.categories_of(t) if isinstance(t, str) else [], self.kinds) for t in texts]


class CompositeSafetyChecker:
    """OR of several checkers (e.g. the lexicon plus a classifier)."""

    def __init__(self, checkers: Sequence[SafetyChecker]):
        self.checkers = list(checkers)

    def check(self, texts: list[str]) -> list[SafetyFlags]:
        results = [c.check(texts) for c in self.checkers]
        return [merge_flags(list(per_text)) for per_text in zip(*results)] if results else [SafetyFlags() for _ in texts]


def merge_flags(flags: Sequence[SafetyFlags]) -> SafetyFlags:
    """OR of flags; categories united."""
    return SafetyFlags(crisis=any(f.crisis for f in flags), toxicity=any(f.toxicity for f in flags),
                       categories=sorted({c for f in flags for c in f.categories}))


def _import_checker(spec: str) -> SafetyChecker:
    module, _, name = spec.partition(":")
    if not name:
        raise SafetyConfigError(f"checker {spec!r} must be 'lexicon' or 'package.module:ClassName'")
    obj: Any = getattr(importlib.import_module(module), name)()
    if not isinstance(obj, SafetyChecker):
        raise SafetyConfigError(f"checker {spec!r} has no check(texts) method")
    return obj


def get_safety_checker(config: SafetyConfig | None = None) -> SafetyChecker:
    """The checker(s) named in safety.yml `checkers` (OR-ed when several)."""
    config = config or load_safety_config()
    checkers = [LexiconSafetyChecker(config) if s == "lexicon" else _import_checker(s) for s in config.checkers]
    return checkers[0] if len(checkers) == 1 else CompositeSafetyChecker(checkers)


def check_conversations(conversations: Sequence[Sequence[Mapping[str, Any]] | None], checker: SafetyChecker,
                        config: SafetyConfig) -> list[SafetyFlags]:
    """One SafetyFlags per conversation: crisis counted from policy.crisis_roles' messages,
    toxicity from policy.toxicity_roles' (a counsellor naming suicide is not a crisis)."""
    msgs = [(i, m.get("role"), m["content"]) for i, conv in enumerate(conversations) for m in conv or []
            if isinstance(m.get("content"), str)]
    flags = checker.check([t for _, _, t in msgs])
    crisis_cats = {c.name for c in config.categories if c.kind == "crisis"}
    per: list[list[str]] = [[] for _ in conversations]
    crisis = [False] * len(conversations)
    tox = [False] * len(conversations)
    pol = config.policy
    for (i, role, _), f in zip(msgs, flags):
        if role in pol.crisis_roles and f.crisis:
            crisis[i] = True
            per[i] += [c for c in f.categories if c in crisis_cats]
        if role in pol.toxicity_roles and f.toxicity:
            tox[i] = True
            per[i] += [c for c in f.categories if c not in crisis_cats]  # incl. a plugged model's own names
    return [SafetyFlags(crisis=c, toxicity=t, categories=sorted(set(p))) for c, t, p in zip(crisis, tox, per)]
