"""Pure span logic: filtering, overlap resolution, cross-turn propagation, consistent placeholders.

Nothing here imports presidio or spaCy; nothing here logs or stores text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .patterns import PLACEHOLDER_RE

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_HONORIFIC_TOKENS = frozenset({"dr", "doctor", "mr", "mrs", "ms", "mx", "miss", "prof", "professor", "sir", "madam"})
NER_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span: offsets into the analysed text and a 0..1 score. No text is kept."""

    entity_type: str
    start: int
    end: int
    score: float


def words(s: str) -> list[str]:
    """Lowercased word tokens (letters, inner apostrophes/hyphens)."""
    return [w.lower() for w in _WORD.findall(s)]


def is_allowed(span: str, entity_type: str, allow_terms: frozenset[str], filler_terms: frozenset[str],
               allow_res: Sequence[re.Pattern[str]]) -> bool:
    """True if a finding must stay in the text: an allow pattern matches it whole, or (NER types)
    it contains an allowed term ("Zoloft 2 weeks ago") or has only filler words ("Dr.", "Mom", "10")."""
    stripped = span.strip()
    if any(r.fullmatch(stripped) for r in allow_res):
        return True
    if entity_type in NER_TYPES:
        ws = [w.rstrip(".") for w in words(stripped)]
        return any(w in allow_terms for w in ws) or all(w in filler_terms for w in ws)
    return False


GENERIC_TYPES = frozenset({"ID_NUMBER"})  # a bare long number: loses to anything more specific


def _rank(entity_type: str) -> int:
    """Pattern-validated types (email, phone, SSN, address...) 2, NER types 1, generic numbers 0."""
    if entity_type in GENERIC_TYPES:
        return 0
    return 1 if entity_type in NER_TYPES else 2


_URL_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)", re.IGNORECASE)


def plausible_url(text: str, start: int, end: int) -> bool:
    """A bare-domain URL finding is kept only if its TLD is lowercase and it does not end inside a
    word: "dissipating.People" (a missing space after a full stop) is not a URL."""
    span = text[start:end]
    if _URL_SCHEME.match(span):
        return True
    host = span.split("/", 1)[0]
    tld = host.rsplit(".", 1)[-1]
    return ".." not in host and tld.islower() and not (end < len(text) and text[end].isalpha())


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Merge overlapping findings. The winner is the most specific type, then the longest, then
    the highest score. A pattern-type winner keeps the union of same-rank spans only (an NER span
    "Email jo@x.org" does not swallow the word "Email"; the residual re-scan catches real leftovers);
    otherwise the union of all overlapping spans is replaced."""
    ordered = sorted(findings, key=lambda f: (f.start, -f.end))
    groups: list[list[Finding]] = []
    end = -1
    for f in ordered:
        if groups and f.start < end:
            groups[-1].append(f)
            end = max(end, f.end)
        else:
            groups.append([f])
            end = f.end
    out: list[Finding] = []
    for g in groups:
        win = max(g, key=lambda f: (_rank(f.entity_type), f.end - f.start, f.score, f.entity_type))
        members = [f for f in g if _rank(f.entity_type) == 2] if _rank(win.entity_type) == 2 else g
        out.append(Finding(win.entity_type, min(f.start for f in members), max(f.end for f in members), win.score))
    return out


def overlaps_placeholder(text: str, f: Finding, spans: Sequence[tuple[int, int]] | None = None) -> bool:
    """True if the finding touches a <TAG_n> placeholder (placeholders are not PII)."""
    if spans is None:
        spans = [m.span() for m in PLACEHOLDER_RE.finditer(text)]
    return any(f.start < e and s < f.end for s, e in spans)


def name_tokens(span: str) -> frozenset[str]:
    """Tokens identifying a person: lowercased words without honorifics."""
    toks = (re.sub(r"['’]s$", "", w) for w in words(span))
    return frozenset(t for t in toks if t not in _HONORIFIC_TOKENS)


def _strip_honorific(span: str) -> str:
    return re.sub(r"^(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Doctor)\.?\s+", "", span.strip())


def propagate(
    texts: Sequence[str],
    findings: Sequence[Sequence[Finding]],
    *,
    entity_types: frozenset[str],
    min_token_chars: int,
    stop_words: frozenset[str],
    allow_terms: frozenset[str],
) -> list[list[Finding]]:
    """Add findings for verbatim (case-sensitive, whole-word) repeats of names found elsewhere in the scope.

    Full surface forms of ``entity_types`` are propagated; for PERSON also each name token
    ("Sarah" from "Dr. Sarah Mitchell") unless short, a stop word or an allowed term.
    """
    needles: dict[str, Finding] = {}
    for text, fs in zip(texts, findings):
        for f in fs:
            if f.entity_type not in entity_types:
                continue
            surface = _strip_honorific(text[f.start:f.end])
            if len(surface) >= min_token_chars:
                needles.setdefault(surface, f)
            if f.entity_type == "PERSON":
                for tok in _WORD.findall(surface):
                    low = tok.lower()
                    if len(tok) >= min_token_chars and tok[0].isupper() and low not in stop_words and low not in allow_terms:
                        needles.setdefault(tok, f)
    if not needles:
        return [list(fs) for fs in findings]
    rx = re.compile(r"(?<![\w@.])(?:" + "|".join(re.escape(n) for n in sorted(needles, key=lambda n: (-len(n), n))) + r")(?![\w@])")
    out: list[list[Finding]] = []
    for text, fs in zip(texts, findings):
        extra: list[Finding] = []
        for m in rx.finditer(text):
            if any(m.start() < f.end and f.start < m.end() for f in fs):
                continue
            src = needles[m.group(0)]
            extra.append(Finding(src.entity_type, m.start(), m.end(), src.score))
        out.append(resolve_overlaps([*fs, *extra]) if extra else list(fs))
    return out


def _norm_key(entity_type: str, span: str) -> str:
    if entity_type == "PHONE_NUMBER":
        digits = re.sub(r"\D", "", span.split("x")[0].split("ext")[0])
        return digits[-10:] if len(digits) >= 10 else digits
    if entity_type in ("US_SSN", "CREDIT_CARD", "IBAN_CODE", "US_BANK_NUMBER", "US_ITIN"):
        return re.sub(r"[\W_]", "", span).lower()
    return " ".join(words(span)) or re.sub(r"\s+", " ", span.strip().lower())


class PlaceholderScope:
    """Consistent <TAG_n> numbering for one conversation (or one text). Never persisted."""

    def __init__(self, tags: Mapping[str, str]):
        self._tags = tags
        self._counters: dict[str, int] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._people: list[tuple[set[str], str]] = []

    def _new(self, tag: str) -> str:
        n = self._counters.get(tag, 0) + 1
        self._counters[tag] = n
        return f"<{tag}_{n}>"

    def _person(self, span: str) -> str:
        toks = set(name_tokens(span))
        if not toks:
            return self._key_placeholder("PERSON", span)
        for known, ph in self._people:
            if toks <= known or known <= toks:
                known |= toks
                return ph
        ph = self._new(self._tags.get("PERSON", "PERSON"))
        self._people.append((toks, ph))
        return ph

    def _key_placeholder(self, entity_type: str, span: str) -> str:
        tag = self._tags.get(entity_type, entity_type)
        key = (tag, _norm_key(entity_type, span))
        if key not in self._keys:
            self._keys[key] = self._new(tag)
        return self._keys[key]

    def placeholder(self, entity_type: str, span: str) -> str:
        """Placeholder for a span: the same entity gets the same placeholder within this scope."""
        if entity_type == "PERSON":
            return self._person(span)
        return self._key_placeholder(entity_type, span)


def apply_placeholders(text: str, findings: Sequence[Finding], scope: PlaceholderScope) -> str:
    """Replace findings (non-overlapping) with scope placeholders, left to right."""
    parts: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        parts.append(text[pos:f.start])
        parts.append(scope.placeholder(f.entity_type, text[f.start:f.end]))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def count_by_type(findings: Iterable[Finding]) -> dict[str, int]:
    """Redactions per entity type, keys sorted."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.entity_type] = counts.get(f.entity_type, 0) + 1
    return dict(sorted(counts.items()))
