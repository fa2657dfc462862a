"""Pure text helpers of near dedup: the non-system text of a conversation, tokens, shingles."""

from __future__ import annotations

import hashlib
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
