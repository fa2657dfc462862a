"""Compiled quality lexicon and per-turn text features (pure regex: no model)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from lakehouse.safety.lexicon import normalize

from .config import QualityConfigError

_WORD = re.compile(r"[a-z][a-z']+")
_SENT = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_QUOTED = re.compile(r"\"[^\"]{0,300}\"|\u201c[^\u201d]{0,300}\u201d")
_NEG = re.compile(r"\b(?:not|never|no|don't|doesn't|didn't|isn't|aren't|wasn't|won't|can't|nobody)\b")
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ed", "ly", "es", "s")


def stem(word: str) -> str:
    """A crude suffix stripper (enough to match feel/feeling/feelings, worry/worried)."""
    w = word.replace("'", "")
    for suf in _SUFFIXES:
        if len(w) > len(suf) + 3 and w.endswith(suf):
            w = w[: -len(suf)]
            break
    if w.endswith("i"):
        w = w[:-1] + "y"
    return w


def _compile(patterns: Sequence[str], where: str) -> re.Pattern[str] | None:
    pats = [str(p) for p in patterns or []]
    if not pats:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in pats))
    except re.error as e:
        raise QualityConfigError(f"quality lexicon {where}: bad pattern: {e}") from e


def _compile_each(patterns: Sequence[str], where: str) -> list[re.Pattern[str]]:
    out = []
    for p in patterns or []:
        try:
            out.append(re.compile(str(p)))
        except re.error as e:
            raise QualityConfigError(f"quality lexicon {where}: bad pattern {p!r}: {e}") from e
    return out


@dataclass(frozen=True)
class TurnFeatures:
    """Lexical facts about one message (computed once per distinct text)."""

    words: int
    stems: frozenset[str]
    emotions: frozenset[str]
    er_strong: int
    er_weak: int
    ip_strong: int
    ip_weak: int
    ex_strong: int          # question sentences with a specific exploration cue
    ex_weak: int            # other questions addressed to the client
    question_stems: frozenset[str]
    dismissal: bool
    means: bool
    encouragement: bool
    acknowledge: bool
    safety: bool
    resources: bool
    professional: bool
    disengage: bool
    steps: int
    evidence: int
    conclusion: bool
    sentences: int


class Lexicon:
    def __init__(self, lex: Mapping[str, Any]):
        mech = lex.get("mechanisms") or {}
        self.mech: dict[str, tuple[list[re.Pattern[str]], list[re.Pattern[str]]]] = {}
        for name in ("emotional_reactions", "interpretations", "explorations"):
            spec = mech.get(name) or {}
            self.mech[name] = (_compile_each(spec.get("strong") or [], f"{name}.strong"),
                               _compile_each(spec.get("weak") or [], f"{name}.weak"))
        self.emotion_stems = frozenset(stem(w) for w in lex.get("emotion_words") or [])
        self.stopwords = frozenset(str(w).replace("'", "") for w in lex.get("stopwords") or [])
        harm = lex.get("harmful") or {}
        self.means = _compile(harm.get("means") or [], "harmful.means")
        self.encouragement = _compile(harm.get("encouragement") or [], "harmful.encouragement")
        self.dismissal = _compile(harm.get("dismissal") or [], "harmful.dismissal")
        ch = lex.get("crisis_handling") or {}
        self.crisis = {k: _compile(ch.get(k) or [], f"crisis_handling.{k}")
                       for k in ("acknowledge", "safety", "resources", "professional", "disengage")}
        rs = lex.get("reasoning") or {}
        self.reasoning = {k: _compile(rs.get(k) or [], f"reasoning.{k}") for k in ("steps", "evidence", "conclusion")}

    def content_stems(self, norm: str) -> frozenset[str]:
        return frozenset(stem(w) for w in _WORD.findall(norm) if len(w) > 2 and w.replace("'", "") not in self.stopwords)

    @staticmethod
    def _hits(patterns: list[re.Pattern[str]], text: str) -> int:
        return sum(1 for p in patterns if p.search(text))

    @staticmethod
    def _unnegated(rx: re.Pattern[str] | None, norm: str) -> bool:
        """A hit outside double quotes with no negation in the 3 words before it."""
        if rx is None:
            return False
        text = _QUOTED.sub(" ", norm)
        for m in rx.finditer(text):
            head = text[max(0, m.start() - 40):m.start()].split()[-3:]
            if not _NEG.search(" ".join(head)):
                return True
        return False

    def features(self, text: str) -> TurnFeatures:
        norm = normalize(text or "")
        sents = [s for s in _SENT.split(norm) if s.strip()]
        questions = [s for s in sents if "?" in s]
        ex_s, ex_w = self.mech["explorations"]
        ex_strong = ex_weak = 0
        qstems: set[str] = set()
        for q in questions:
            if any(p.search(q) for p in ex_s):
                ex_strong += 1
            elif any(p.search(q) for p in ex_w) or re.search(r"\byou(?:r|rself|'re|'ve)?\b", q):
                ex_weak += 1
            else:
                continue
            qstems |= self.content_stems(q)
        stems = self.content_stems(norm)
        er_s, er_w = self.mech["emotional_reactions"]
        ip_s, ip_w = self.mech["interpretations"]
        c = self.crisis
        r = self.reasoning
        return TurnFeatures(
            words=len(norm.split()),
            stems=stems,
            emotions=frozenset(s for s in stems if s in self.emotion_stems),
            er_strong=self._hits(er_s, norm), er_weak=self._hits(er_w, norm),
            ip_strong=self._hits(ip_s, norm), ip_weak=self._hits(ip_w, norm),
            ex_strong=ex_strong, ex_weak=ex_weak, question_stems=frozenset(qstems),
            dismissal=self._unnegated(self.dismissal, norm),
            means=bool(self.means and self.means.search(norm)),
            encouragement=self._unnegated(self.encouragement, norm),
            acknowledge=bool(c["acknowledge"] and c["acknowledge"].search(norm)),
            safety=bool(c["safety"] and c["safety"].search(norm)),
            resources=bool(c["resources"] and c["resources"].search(norm)),
            professional=bool(c["professional"] and c["professional"].search(norm)),
            disengage=bool(c["disengage"] and c["disengage"].search(norm)),
            steps=len(r["steps"].findall(norm)) if r["steps"] else 0,
            evidence=len(r["evidence"].findall(norm)) if r["evidence"] else 0,
            conclusion=bool(r["conclusion"] and r["conclusion"].search(norm)),
            sentences=len(sents),
        )
