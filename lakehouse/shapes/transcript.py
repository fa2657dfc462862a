"""Speaker-prefixed transcripts -> turns.

Labelled lines ("Human: ... Assistant: ...", "Client:/Therapist:", "T1:/C2:", "**User:**",
"<HUMAN>:", "### Assistant:") and chat-template renderings (ChatML ``<|im_start|>role``,
Llama-3 ``<|start_header_id|>role<|end_header_id|>``, Llama-2 ``[INST] ... [/INST]``).
"""

from __future__ import annotations

import re
from typing import Mapping

from lakehouse.shapes.roles import normalize_role

_SPEAKER_LINE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?[\[<]?(?P<label>[A-Za-z][A-Za-z0-9 ._'\-]{0,29}?)[\]>]?[ \t]*(?:\*\*|__)?"
    r"[ \t]*:(?:\*\*|__)?[ \t]?(?P<rest>.*)$"
)
# "...text### Assistant: ..." (explicit markdown-heading markers inside a line)
_HASH_MARKER = re.compile(r"[ \t]*#{2,6}[ \t]*(?=(?P<label>[A-Za-z][A-Za-z ]{0,20}):)")
_CHATML_TURN = re.compile(
    r"<\|im_start\|>[ \t]*(?P<label>[^\n<|]*?)[ \t]*\n(?P<text>.*?)(?:<\|im_end\|>|(?=<\|im_start\|>)|\Z)", re.DOTALL)
_LLAMA3_TURN = re.compile(
    r"<\|start_header_id\|>(?P<label>[^<]*?)<\|end_header_id\|>(?P<text>.*?)(?:<\|eot_id\|>|(?=<\|start_header_id\|>)|\Z)",
    re.DOTALL)
_LLAMA2_TURN = re.compile(r"\[INST\](?P<user>.*?)\[/INST\](?P<text>.*?)(?=(?:</s>)?\s*(?:<s>)?\s*\[INST\]|\Z)", re.DOTALL)
_LLAMA2_SYS = re.compile(r"<<SYS>>(?P<sys>.*?)<</SYS>>", re.DOTALL)
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
    templated = _parse_template(text, role_map)
    if templated is not None:
        return templated, 0
    if "#" in text:
        text = _HASH_MARKER.sub(lambda m: "\n" if normalize_role(m.group("label"), role_map) else m.group(0), text)
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


def _template_role(label: str, role_map: Mapping[str, str] | None) -> str:
    # unknown labels are kept raw (the converter quarantines them as unknown roles)
    return normalize_role(label, role_map) or label.strip()


def _parse_template(text: str, role_map: Mapping[str, str] | None) -> list[tuple[str, str, str]] | None:
    """Turns of a chat-template rendering, or None when the text is not one."""
    for marker, pattern in (("<|im_start|>", _CHATML_TURN), ("<|start_header_id|>", _LLAMA3_TURN)):
        if marker in text:
            return [(m.group("label").strip(), _template_role(m.group("label"), role_map), m.group("text").strip())
                    for m in pattern.finditer(text)]
    if "[INST]" in text and "[/INST]" in text:
        out: list[tuple[str, str, str]] = []
        for m in _LLAMA2_TURN.finditer(text):
            user = m.group("user")
            sys_m = _LLAMA2_SYS.search(user)
            if sys_m:
                out.append(("<<SYS>>", "system", sys_m.group("sys").strip()))
                user = user[: sys_m.start()] + user[sys_m.end():]
            out.append(("[INST]", "user", user.strip()))
            answer = re.sub(r"</s>\s*$", "", m.group("text").strip()).strip()
            if answer:
                out.append(("[/INST]", "assistant", answer))
        return out
    return None


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


def opens_with_speaker(text: str, role_map: Mapping[str, str] | None = None) -> bool:
    """True when the first non-blank line starts with a known speaker label or a chat-template token."""
    head = text.lstrip()[:200]
    if head.startswith(("<|im_start|>", "<|start_header_id|>", "<|begin_of_text|>", "[INST]", "<s>[INST]", "<s> [INST]")):
        return True
    return speaker_label(head.split("\n", 1)[0], role_map) is not None
