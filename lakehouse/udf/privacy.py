"""Arrow adapters for PII redaction (``lakehouse.privacy``) and the safety lexicon (``lakehouse.safety``).

A preference record is one placeholder scope: prompt, chosen and rejected are redacted together so
``<PERSON_1>`` means the same person in all three.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pyarrow as pa

from lakehouse.udf.convert import _MSG

REDACTED_TYPE = pa.struct([
    ("messages", _MSG), ("prompt", _MSG), ("chosen", _MSG), ("rejected", _MSG), ("text", pa.string()),
    ("pii_status", pa.string()), ("redactions", pa.string()),
])
MSG_SQL = "STRUCT(role VARCHAR, content VARCHAR)[]"
REDACTED_SQL = (f"STRUCT(messages {MSG_SQL}, prompt {MSG_SQL}, chosen {MSG_SQL}, rejected {MSG_SQL}, "
                "text VARCHAR, pii_status VARCHAR, redactions VARCHAR)")
SAFETY_TYPE = pa.struct([("crisis", pa.bool_()), ("toxicity", pa.bool_()), ("categories", pa.list_(pa.string())),
                        ("reason", pa.string())])
SAFETY_SQL = "STRUCT(crisis BOOLEAN, toxicity BOOLEAN, categories VARCHAR[], reason VARCHAR)"


def _counts_json(counts: dict[str, int]) -> str:
    return json.dumps(dict(sorted(counts.items())), separators=(",", ":"))


def redact_rows(kinds: list[str | None], messages: list[Any], prompts: list[Any], chosens: list[Any],
                rejecteds: list[Any], texts: list[str | None]) -> list[dict[str, Any] | None]:
    """Pure batch redaction over python values (the UDF's logic)."""
    from lakehouse.privacy import get_redactor

    red = get_redactor()
    out: list[dict[str, Any] | None] = [None] * len(kinds)
    conv_idx: list[int] = []
    convs: list[list[dict[str, Any]]] = []
    splits: list[tuple[int, int, int]] = []
    text_idx: list[int] = []
    text_vals: list[str] = []
    for i, k in enumerate(kinds):
        if k == "sft":
            conv_idx.append(i)
            convs.append(list(messages[i] or []))
            splits.append((len(messages[i] or []), 0, 0))
        elif k == "preference":
            p, c, r = list(prompts[i] or []), list(chosens[i] or []), list(rejecteds[i] or [])
            conv_idx.append(i)
            convs.append(p + c + r)
            splits.append((len(p), len(c), len(r)))
        elif k == "pretrain":
            text_idx.append(i)
            text_vals.append(texts[i] or "")
    for i, (a, b, c), res in zip(conv_idx, splits, red.redact_conversations(convs) if convs else []):
        msgs = res.messages or []
        row = {"messages": None, "prompt": None, "chosen": None, "rejected": None, "text": None,
               "pii_status": res.pii_status, "redactions": _counts_json(res.counts)}
        if kinds[i] == "sft":
            row["messages"] = msgs
        else:
            row["prompt"], row["chosen"], row["rejected"] = msgs[:a], msgs[a:a + b], msgs[a + b:a + b + c]
        out[i] = row
    for i, res in zip(text_idx, red.redact_texts(text_vals) if text_vals else []):
        out[i] = {"messages": None, "prompt": None, "chosen": None, "rejected": None, "text": res.text,
                  "pii_status": res.pii_status, "redactions": _counts_json(res.counts)}
    return out


def redact_batch(kind: pa.Array, messages: pa.Array, prompt: pa.Array, chosen: pa.Array, rejected: pa.Array,
                 text: pa.Array) -> pa.Array:
    rows = redact_rows(kind.to_pylist(), messages.to_pylist(), prompt.to_pylist(), chosen.to_pylist(),
                       rejected.to_pylist(), text.to_pylist())
    return pa.array(rows, type=REDACTED_TYPE)


def record_texts(kind: str | None, messages: Any, prompt: Any, chosen: Any, rejected: Any, text: str | None) -> list[str]:
    if kind == "pretrain":
        return [text or ""]
    msgs = list(messages or []) + list(prompt or []) + list(chosen or []) + list(rejected or [])
    return [m["content"] or "" for m in msgs if m]


def residual_batch(kind: pa.Array, messages: pa.Array, prompt: pa.Array, chosen: pa.Array, rejected: pa.Array,
                   text: pa.Array) -> pa.Array:
    """Number of PII findings above threshold left in each (already redacted) record."""
    from lakehouse.privacy import get_redactor

    per_row = [record_texts(*vals) for vals in zip(kind.to_pylist(), messages.to_pylist(), prompt.to_pylist(),
                                                   chosen.to_pylist(), rejected.to_pylist(), text.to_pylist())]
    return pa.array(residual_counts(get_redactor(), per_row), type=pa.int64())


def residual_counts(red: Any, per_row: list[list[str]]) -> list[int]:
    """Findings left outside placeholders, per row of texts (one scan over all of them)."""
    flat = [t for texts in per_row for t in texts]
    findings = red.scan(flat) if flat else []
    out, pos = [], 0
    for texts in per_row:
        out.append(sum(len(f) for f in findings[pos:pos + len(texts)]))
        pos += len(texts)
    return out


@functools.lru_cache(maxsize=1)
def _safety() -> tuple[Any, Any]:
    """The safety config and its checker, loaded once per process (lexicons compile once)."""
    from lakehouse.safety import get_safety_checker, load_safety_config

    cfg = load_safety_config()
    return cfg, get_safety_checker(cfg)


def safety_rows(kinds: list[str | None], messages: list[Any], prompts: list[Any], chosens: list[Any],
                rejecteds: list[Any], texts: list[str | None]) -> list[dict[str, Any]]:
    """Safety flags and the quarantine decision per (non-edge) record, role-aware."""
    from lakehouse.safety import check_conversations, safety_decision

    cfg, checker = _safety()
    convs: list[list[dict[str, Any]]] = []
    for k, m, p, c, r, t in zip(kinds, messages, prompts, chosens, rejecteds, texts):
        if k == "pretrain":
            convs.append([{"role": "user", "content": t or ""}])
        else:
            convs.append([x for x in list(m or []) + list(p or []) + list(c or []) + list(r or []) if x])
    flags = check_conversations(convs, checker, cfg)
    return [{"crisis": f.crisis, "toxicity": f.toxicity, "categories": list(f.categories),
             "reason": safety_decision(f, is_edge_case=False, policy=cfg.policy)} for f in flags]


def safety_batch(kind: pa.Array, messages: pa.Array, prompt: pa.Array, chosen: pa.Array, rejected: pa.Array,
                 text: pa.Array) -> pa.Array:
    rows = safety_rows(kind.to_pylist(), messages.to_pylist(), prompt.to_pylist(), chosen.to_pylist(),
                       rejected.to_pylist(), text.to_pylist())
    return pa.array(rows, type=SAFETY_TYPE)
