"""Pure text helpers of near dedup: the non-system text of a conversation, tokens, shingles."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable, Mapping

DEDUP_ROLES = ("user", "assistant")


def conversation_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """User and assistant contents joined by newlines; system (and other) turns are left out."""
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") in DEDUP_ROLES)


def tokens(text: str) -> list[str]:
    """Lowercased, punctuation-stripped word tokens (the same tokenizer as the vectorized path)."""
    import pyarrow as pa

    from lakehouse.dedup.sketch import prepare, token_spans

    data, offsets = prepare(pa.array([text], pa.large_string()))
    starts, ends, _ = token_spans(data, offsets)
    raw = data.tobytes()
    return [raw[s:e].decode("utf-8") for s, e in zip(starts.tolist(), ends.tolist())]


def shingles(text: str, n: int) -> set[str]:
    """Word n-grams of ``text`` joined by one space; one shingle if it has 1..n-1 tokens."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    toks = tokens(text)
    if not toks:
        return set()
    if len(toks) < n:
        return {" ".join(toks)}
    return {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def normalized_hash(text: str) -> str:
    """sha256 hex of the space-joined tokens: equal for texts differing only in case/punctuation."""
    return hashlib.sha256(" ".join(tokens(text)).encode("utf-8")).hexdigest()


# -- short texts: character n-grams ----------------------------------------------------------------
_APOS = "['\u2018\u2019\u02bc]"
_CONTRACTIONS: tuple[tuple["re.Pattern[str]", str], ...] = tuple((re.compile(p), r) for p, r in (
    (rf"\bwon{_APOS}t\b", "will not"), (rf"\bcan{_APOS}t\b", "can not"), (r"\bcannot\b", "can not"),
    (rf"n{_APOS}t\b", " not"), (rf"{_APOS}re\b", " are"), (rf"{_APOS}m\b", " am"), (rf"{_APOS}ll\b", " will"),
    (rf"{_APOS}ve\b", " have"), (rf"{_APOS}d\b", " would"), (rf"{_APOS}s\b", " is"),
))


def short_text_key(text: str) -> str:
    """The form short texts are compared in: lowercased, English contractions expanded ("what's" ->
    "what is", "can't" -> "can not"), then the dedup tokens joined by one space."""
    t = (text or "").lower()
    if any(c in t for c in "'\u2018\u2019\u02bc") or "cannot" in t:
        for pattern, repl in _CONTRACTIONS:
            t = pattern.sub(repl, t)
    return " ".join(tokens(t))


def char_shingles(text: str, n: int) -> set[str]:
    """Character n-grams of :func:`short_text_key` (spaces included: they mark word boundaries);
    one shingle when it is shorter than ``n``, none when it is empty."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    key = short_text_key(text)
    if not key:
        return set()
    if len(key) < n:
        return {key}
    return {key[i : i + n] for i in range(len(key) - n + 1)}


def dedup_shingles(text: str, ngram: int, short_tokens: int, char_ngram: int) -> set[str]:
    """The shingle set near dedup sketches for ``text``: word ``ngram``-grams, or character
    ``char_ngram``-grams when the text has fewer than ``short_tokens`` tokens (0 disables)."""
    n_tokens = len(tokens(text or ""))
    if 0 < n_tokens < short_tokens:
        return char_shingles(text, char_ngram)
    return shingles(text or "", ngram)
