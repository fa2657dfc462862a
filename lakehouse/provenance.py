"""Released provenance strings through the PII redactor, like message text.

A ``source_key`` is relative to what was landed (``lakehouse.landing.land``), but a file or folder
name can still hold personal data (``jane.doe@example.org.jsonl``, ``session_john_smith.csv``).
:func:`redact_source_keys` scans every path segment (its stem, with ``_``/``-`` read as spaces, the
data-file extension kept) and replaces a segment the redactor changes by the redacted form, e.g.
``clinic/jane.doe@example.org.jsonl`` -> ``clinic/<EMAIL_ADDRESS_1>.jsonl``.

This module does not import :mod:`lakehouse.privacy`: the caller passes the redactor as a function
``texts -> redacted texts`` (one placeholder scope per text). The build's cached stage that binds the
pipeline's redactor is :func:`lakehouse.engine.stages.source_key_batch`; :func:`key_stems` names the
texts of a released key that the final PII scan reads.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    import pyarrow as pa

# data-file suffixes kept as they are (the longest match wins: .jsonl.gz before .gz)
_SUFFIX_RE = re.compile(r"(\.(?:jsonl|ndjson|jsonlines|json|csv|tsv|parquet|pq|txt|text|md)(?:\.gz|\.gzip)?|\.gz|\.gzip)$",
                        re.IGNORECASE)
_SEP_RE = re.compile(r"[_\-+]+")

RedactTexts = Callable[[list[str]], list[str]]


def _segment_text(segment: str) -> tuple[str, str]:
    """(text the redactor reads, suffix kept) of one path segment."""
    m = _SUFFIX_RE.search(segment)
    stem, suffix = (segment[: m.start()], m.group(0)) if m else (segment, "")
    return _SEP_RE.sub(" ", stem).strip(), suffix


def redact_source_keys(keys: Sequence[str | None], redact_texts: RedactTexts) -> list[str | None]:
    """The redacted form of each source_key (None stays None; a key with nothing found is unchanged).

    Each distinct segment is analysed once, whatever the number of keys (records) sharing it.
    """
    texts: dict[str, str] = {}
    for key in keys:
        if key:
            for seg in key.split("/"):
                text, _ = _segment_text(seg)
                if text:
                    texts.setdefault(seg, text)
    segs = list(texts)
    redacted = dict(zip(segs, redact_texts([texts[s] for s in segs]))) if segs else {}
    out: list[str | None] = []
    for key in keys:
        if not key:
            out.append(key)
            continue
        parts = []
        for seg in key.split("/"):
            text, suffix = _segment_text(seg)
            new = redacted.get(seg, text)
            parts.append(seg if not text or new == text else new.replace("/", "_").replace(" ", "_") + suffix)
        out.append("/".join(parts))
    return out


def key_stems(key: str | None) -> list[str]:
    """The texts the final PII scan reads in a released source_key: each path segment as the
    redactor read it (:func:`_segment_text`: data-file suffix dropped, ``_``/``-``/``+`` read as
    spaces) with its placeholders intact. Reading ``part-0001`` instead of ``part 0001`` made spaCy
    see a PERSON in an ordinary shard name, i.e. a gate failure on a text the redaction had never
    been asked about."""
    from lakehouse.privacy.patterns import PLACEHOLDER_RE

    read = re.compile(f"({PLACEHOLDER_RE.pattern})|{_SEP_RE.pattern}")   # a placeholder, or a separator run
    texts = (read.sub(lambda m: m.group(1) or " ", _SUFFIX_RE.sub("", seg)).strip() for seg in (key or "").split("/"))
    return [t for t in texts if t]
