"""Canonical form and SHA-256 content hash of a record (sft, preference or pretrain).

The canonical form is compact JSON (UTF-8, no ASCII escaping) of ``[kind, payload]`` where
messages are ``[role, content]`` pairs after whitespace normalization, so the hash ignores key
order, extra message fields and whitespace noise. The release's hash gate recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Sequence

_WS = re.compile(r"[ \t\u00a0]+")
_NL = re.compile(r"\n{3,}")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def normalize_whitespace(text: str) -> str:
    """CRLF -> LF, runs of spaces/tabs -> one space, at most one blank line, trimmed lines and ends.
    (The hash gate recomputes these hashes: tests/test_hashing_udf.py pins the definition.)"""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "  " in text or "\t" in text or "\u00a0" in text:   # else every run is one space already
        text = _WS.sub(" ", text)
    if "\n" not in text:   # one line, most chat turns: the same result without the split / join
        return text.strip()
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _NL.sub("\n\n", text).strip()


def _msgs(messages: Sequence[dict[str, Any]] | None) -> list[list[str]]:
    return [[str(m.get("role") or ""), normalize_whitespace(str(m.get("content") or ""))] for m in (messages or [])]


def canonical(kind: str, *, messages: Sequence[dict[str, Any]] | None = None,
              prompt: Sequence[dict[str, Any]] | None = None, chosen: Sequence[dict[str, Any]] | None = None,
              rejected: Sequence[dict[str, Any]] | None = None, text: str | None = None,
              label: bool | None = None) -> str:
    if kind == "sft":
        payload: Any = _msgs(messages)
        if label is not None:
            payload = {"label": bool(label), "messages": payload}
    elif kind == "preference":
        payload = {"chosen": _msgs(chosen), "prompt": _msgs(prompt), "rejected": _msgs(rejected)}
    elif kind == "pretrain":
        payload = normalize_whitespace(text or "")
    else:
        raise ValueError(f"unknown record kind {kind!r}")
    return json.dumps([kind, payload], ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def content_hash(kind: str, **payload: Any) -> str:
    return hashlib.sha256(canonical(kind, **payload).encode("utf-8")).hexdigest()


def record_content_hash(record: dict[str, Any]) -> str:
    """Hash of a release JSON line object (``{"messages"|"prompt"...|"text", "metadata"}``)."""
    md = record.get("metadata") or {}
    kind = md.get("kind") or ("sft" if "messages" in record else "preference" if "chosen" in record else "pretrain")
    return content_hash(kind, messages=record.get("messages"), prompt=record.get("prompt"),
                        chosen=record.get("chosen"), rejected=record.get("rejected"),
                        text=record.get("text"), label=md.get("label"))
