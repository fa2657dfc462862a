"""Speaker-prefixed transcripts ("Human: ... Assistant: ...", "Client:/Therapist:", "T1:/C2:") -> turns."""

from __future__ import annotations

import re
from typing import Mapping

from lakehouse.shapes.roles import normalize_role

_SPEAKER_LINE = re.compile(
    r"^[ \t]*(?:\*\*|__)?\[?(?P<label>[A-Za-z][A-Za-z0-9 ._'\-]{0,29}?)\]?[ \t]*(?:\*\*|__)?[ \t]*:"
    r"(?:\*\*|__)?[ \t]?(?P<rest>.*)$"
)
# Inline fallback for one-line transcripts: a multi-letter label after a sentence/space boundary.
_INLINE_LABEL = re.compile(r"(?:^|(?<=\s))(?P<label>[A-Z][A-Za-z]{1,20}(?: [A-Z]?[a-z]+)?)[ \t]*:[ \t]")


def speaker_label(line: str, role_map: Mapping[str, str] | None = None) -> tuple[str, str, str] | None:
    """(raw label, role, rest of line) when the line opens with a known speaker label."""
    m = _SPEAKER_LINE.match(line)
    if not m:
        return None
    role = normalize_role(m.group("label"), role_map, transcript=True)
    if role is None:
        return None
    return m.group("label").strip(), role, m.group("rest")


# A known speaker label inside a line, right after a sentence end ("...television.  Human: So what"):
# a turn boundary that lost its line break.
_MIDLINE_LABEL = re.compile(r"(?<=[.!?\"\u201d)])[ \t]+(?=(?P<label>[A-Z][a-z]+(?: [A-Z][a-z]+)?):[ \t])")


def _split_midline_labels(text: str, role_map: Mapping[str, str] | None) -> tuple[str, int]:
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal n
        if normalize_role(m.group("label"), role_map) is None:
            return m.group(0)
        n += 1
        return "\n"

    return _MIDLINE_LABEL.sub(repl, text), n


def parse_transcript(text: str, role_map: Mapping[str, str] | None = None) -> tuple[list[tuple[str, str, str]], int]:
    """([(raw label, role, text)], header lines skipped).

    A line opening with a known (or role_map-ped) speaker label starts a turn; other lines
    continue the previous turn; lines before the first label are a header and are skipped.
    A known capitalized label right after a sentence end inside a line also starts a turn.
    Labels that are not known roles are never guessed: such lines are continuation text.
    One-line transcripts fall back to inline labels ("Human: hi Assistant: hello").
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    split, _ = _split_midline_labels(text, role_map) if ":" in text else (text, 0)
    lines = split.split("\n")
    turns: list[tuple[str, str, list[str]]] = []
    header = 0
    for line in lines:
        hit = speaker_label(line, role_map)
        if hit:
            turns.append((hit[0], hit[1], [hit[2]]))
        elif turns:
            turns[-1][2].append(line)
        elif line.strip():
            header += 1
    out = [(label, role, "\n".join(parts).strip()) for label, role, parts in turns]
    if len(out) < 2 and "\n" not in text.strip():
        inline = _parse_inline(text, role_map)
        if len(inline) >= 2:
            return inline, 0
    return out, header


def _parse_inline(text: str, role_map: Mapping[str, str] | None) -> list[tuple[str, str, str]]:
    hits = [(m, normalize_role(m.group("label"), role_map)) for m in _INLINE_LABEL.finditer(text)]
    hits = [(m, r) for m, r in hits if r is not None]
    if not hits or text[: hits[0][0].start()].strip():
        return []
    out = []
    for i, (m, role) in enumerate(hits):
        end = hits[i + 1][0].start() if i + 1 < len(hits) else len(text)
        out.append((m.group("label"), role, text[m.end():end].strip()))  # type: ignore[arg-type]
    return out


def looks_like_transcript(text: str, role_map: Mapping[str, str] | None = None) -> bool:
    """At least two speaker turns, including a user and a non-user speaker."""
    if not isinstance(text, str) or ":" not in text:
        return False
    turns, _ = parse_transcript(text, role_map)
    roles = {r for _, r, _ in turns}
    return len(turns) >= 2 and "user" in roles and bool(roles - {"user"})
