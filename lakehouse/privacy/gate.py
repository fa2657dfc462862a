"""Which parts of a text the NER must read (pure: no spaCy/Presidio import).

spaCy's NER is most of the redactor's cost, and it can only find PERSON/LOCATION where a
capitalised word is. A text is cut into sentences; a sentence goes to the NER when it holds a
*candidate*: a capitalised word that is not "I"/"I'm", not a <TAG_n> placeholder, not an allowed or
filler term ("Zoloft", "Mom", "Dr."), and, as the sentence's first word, not a common word
("Honestly", "Work", "Listen") unless it is also a first name or a place ("Will", "Hope",
"Hungary"). A sentence that starts in lower case ("i told sarah") is read whole. Consecutive
candidate sentences form one window, so the NER keeps their shared context.

The windows depend only on the text and the configuration, so findings stay a function of the
text (the analysis cache is keyed by sha256(text) and config_hash).
"""

from __future__ import annotations

import re
from typing import AbstractSet

from .patterns import PLACEHOLDER_RE

# a sentence ends at a newline, or at . ! ? followed by spaces (abbreviations are re-joined below)
_BREAK = re.compile(r"\n+|(?<=[.!?])[\"'’”)\]]*[ \t]+")
_TOKEN = re.compile(r"[^\W\d_][\w'’.-]*")
# "Dr." "St." "Mrs." "Apt." "J." at the end of a piece: not a sentence end
_ABBREV_END = re.compile(r"(?:^|[\s(])(?:[A-Z][a-z]{0,3}|[A-Z])\.[\"'’”)\]]*[ \t]*$")
_I_FORMS = frozenset({"I", "I'm", "I’m", "I've", "I’ve", "I'd", "I’d", "I'll", "I’ll"})


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; pieces ending in an abbreviation are joined to the next."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in _BREAK.finditer(text):
        piece_end = m.start()
        if "\n" not in m.group(0) and _ABBREV_END.search(text, start, m.end()):
            continue  # "Dr. Mitchell": keep going
        if piece_end > start:
            out.append((start, piece_end))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


def is_candidate(token: str, first: bool, skip_words: AbstractSet[str], common_words: AbstractSet[str],
                 first_names: AbstractSet[str]) -> bool:
    """True if a token could start or be part of a name/place the NER should look at."""
    if not token[0].isupper() or token in _I_FORMS:
        return False
    low = token.lower().rstrip(".")
    if low in skip_words:
        return False
    if first and low in common_words and low not in first_names:
        return False
    return True


def ner_windows(text: str, skip_words: AbstractSet[str], common_words: AbstractSet[str],
                first_names: AbstractSet[str]) -> list[tuple[int, int]]:
    """Spans of the text the NER must read: runs of consecutive candidate sentences."""
    masked = PLACEHOLDER_RE.sub(lambda m: " " * len(m.group(0)), text) if "<" in text else text
    windows: list[tuple[int, int]] = []
    prev_end = -1
    for s, e in sentences(masked):
        toks = _TOKEN.findall(masked, s, e)
        if not toks:
            continue
        lowercase_style = toks[0][0].islower()  # "i told sarah": chat without capitals, the NER still reads it
        if not lowercase_style and not any(is_candidate(t, i == 0, skip_words, common_words, first_names)
                                           for i, t in enumerate(toks)):
            continue
        if windows and prev_end >= 0 and not masked[prev_end:s].strip():
            windows[-1] = (windows[-1][0], e)  # adjacent candidate sentences share a window
        else:
            windows.append((s, e))
        prev_end = e
    return windows
