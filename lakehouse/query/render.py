"""Human rendering of a record trace (the dict of :func:`lakehouse.query.trace.trace_record`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

LABEL_WIDTH = 20


def _v(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else "none"
    return str(value)


def _source_line(src: dict[str, Any]) -> str:
    return f"{_v(src.get('name'))} · family {_v(src.get('family'))} · license {_v(src.get('license'))}"


def _row_text(src: dict[str, Any]) -> str:
    row = f"row {_v(src.get('row_number'))}"
    if src.get("line_number") is not None:
        row += f", line {src['line_number']}"
    if src.get("sub_index"):
        row += f", part {src['sub_index']}"
    return row


def _provenance_lines(src: dict[str, Any], landing: dict[str, Any], indent: str) -> list[tuple[str, str]]:
    return [
        (f"{indent}source", _source_line(src)),
        (f"{indent}file", _v(src.get("key"))),
        (f"{indent}file sha256", _v(src.get("file_sha256"))),
        (f"{indent}position", _row_text(src)),
        (f"{indent}landing", f"{_v(landing.get('landing_id'))} at {_v(landing.get('landed_at'))}"),
    ]


def _step_text(step: dict[str, Any]) -> list[str]:
    kind = step["step"]
    if kind == "landed":
        out = f"{_v(step.get('input_format'))} file, {_v(step.get('rows_read'))} rows read in that landing"
        return [out + (" — this row could not be parsed" if step.get("parse_failed") else "")]
    if kind == "shape_detected":
        return [f"{_v(step.get('shape'))}" + (f" ({step['reason']})" if step.get("reason") else "")]
    if kind == "converted":
        edge = ", training edge case" if step.get("is_training_edge_case") else ""
        return [f"{_v(step.get('kind'))}: {_v(step.get('n_turns'))} turns, {_v(step.get('n_chars'))} chars{edge}"]
    if kind == "repaired":
        return [_v(step.get("repairs") or {})]
    if kind == "quarantined":
        return [f"{_v(step.get('reason_code'))}: {_v(step.get('reason'))}"]
    if kind == "scored":
        return _scored_text(step)
    if kind == "privacy":
        red = step.get("redactions")
        red_text = "no pii column" if red is None else ("none" if not red else
                                                       ", ".join(f"{k}={n}" for k, n in sorted(red.items())))
        return [f"pii_status {_v(step.get('pii_status'))}; redactions {red_text}"]
    if kind == "hashed":
        out = [f"content_hash {_v(step.get('content_hash'))}"]
        if step.get("dedup_hash") and step.get("dedup_hash") != step.get("content_hash"):
            out.append(f"dedup_hash {step['dedup_hash']}")
        return out
    if kind == "dedup":
        return _dedup_text(step)
    if kind == "split":
        return [f"{_v(step.get('split'))} · phase {_v(step.get('phase'))} · stage {_v(step.get('stage'))}"]
    if kind == "released":
        return _released_text(step)
    return [_v({k: v for k, v in step.items() if k != "step"})]


def _num(v: Any) -> str:
    return "-" if v is None else (f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))


def _scored_text(step: dict[str, Any]) -> list[str]:
    """Scores (metadata.quality) in two lines, then bias signals and the threshold a quarantine failed."""
    q = step.get("quality") or {}
    mech = q.get("empathy_mechanisms") or {}
    lines = [f"empathy {_num(q.get('empathy'))} (reactions {_num(mech.get('emotional_reactions'))}, "
             f"interpretations {_num(mech.get('interpretations'))}, explorations {_num(mech.get('explorations'))}) · "
             f"coherence {_num(q.get('coherence'))} · reasoning {_num(q.get('reasoning_completeness'))}"
             + (f" · preference margin {_num(q.get('preference_margin'))}" if q.get("preference_margin") is not None else "")]
    crisis = "crisis disclosed" + (f" ({', '.join(q.get('crisis_categories') or [])}), handling {_num(q.get('crisis_handling'))}"
                                   if q.get("crisis_categories") else "") if q.get("crisis_disclosure") else "no crisis disclosed"
    lines.append(f"{crisis} · harmful response {'yes' if q.get('harmful_response') else 'no'} · "
                 f"toxic assistant turn {'yes' if q.get('toxic_assistant') else 'no'}")
    bias = step.get("bias")
    if bias:
        flags = ", ".join(bias.get("stereotype_flags") or []) or "none"
        lines.append(f"bias score {_num(bias.get('bias_score'))}; stereotype flags {flags}")
    failed = step.get("failed")
    if failed:
        lines.append(f"failed {failed['reason_code']}" + (f": {failed['threshold']}" if failed.get("threshold") else ""))
    return lines


def _dedup_text(step: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if step.get("decision") == "duplicate":
        lines.append(f"{_v(step.get('duplicate_kind'))} duplicate of {_v(step.get('duplicate_of'))} (not released)")
        surv = step.get("survivor") or {}
        if surv.get("source"):
            lines.append("survivor's provenance:")
            lines += [f"  {label:<13} {text}" for label, text in
                      _provenance_lines(surv["source"], surv.get("landing") or {}, "")]
    else:
        dups = step.get("duplicates") or []
        lines.append("survivor" + (f" of {len(dups)} duplicate(s):" if dups else " (no duplicates)"))
        for d in dups:
            src = d.get("source") or {}
            lines.append(f"  {_v(d.get('record_id'))} ({_v(d.get('duplicate_kind'))}) from {_source_line(src)}, "
                         f"{_row_text(src)}")
    return lines


def _released_text(step: dict[str, Any]) -> list[str]:
    rel, via = step.get("releases"), step.get("content_released_as") or []
    if rel is None:
        lines = ["unknown: catalog/release_records does not exist yet (publish a release)"]
    elif rel:
        lines = [f"{r['version']} ({_v(r.get('split'))}, {_v(r.get('shard_key'))})" for r in rel]
    else:
        lines = ["in no release"]
    for r in via:
        lines.append(f"its content is in {r['version']} as {r['record_id']} ({_v(r.get('shard_key'))})")
    return lines


def _content_lines(content: dict[str, Any] | None) -> list[str]:
    if not content:
        return ["(no curated content: the record was not converted; raw text stays in raw/ and quarantine/)"]
    lines: list[str] = []
    for part in ("messages", "prompt", "chosen", "rejected"):
        for m in content.get(part) or []:
            prefix = "" if part == "messages" else f"[{part}] "
            lines.append(f"{prefix}{m.get('role')}: {m.get('content')}")
    if content.get("text"):
        lines.append(str(content["text"]))
    if content.get("label") is not None:
        lines.append(f"label: {content['label']}")
    return lines


def render_trace(trace: dict[str, Any], console: "Console") -> None:
    from rich.text import Text

    def line(label: str, text: str, style: str = "") -> None:
        t = Text(f"  {label:<{LABEL_WIDTH}} ", style="bold")
        t.append(text, style=style)
        console.print(t, highlight=False, soft_wrap=True)

    records = trace["records"]
    head = f"trace of {trace['match']} {trace['value']}: {len(records)} record(s)"
    if trace.get("survivor"):
        head += f", survivor {trace['survivor']}"
    console.print(Text(head, style="bold"), highlight=False, soft_wrap=True)
    for rec in records:
        console.print()
        console.print(Text(f"● {rec['record_id']}  [{rec.get('kind') or '-'}]  {rec['status']}",
                           style="bold green" if rec["status"].startswith("released") else "bold yellow"),
                      highlight=False, soft_wrap=True)
        for label, text in _provenance_lines(rec["source"], rec["landing"], ""):
            line(label, text)
        line("split", f"{_v(rec.get('split'))} · phase {_v(rec.get('phase'))} · stage {_v(rec.get('stage'))}")
        console.print(Text("  transformations", style="bold"))
        for i, step in enumerate(rec["transformations"], 1):
            texts = _step_text(step)
            line(f"  {i}. {step['step']}", texts[0])
            for extra in texts[1:]:
                line("", "   " + extra)
        if rec.get("extra"):
            line("other", ", ".join(f"{k}={_v(v)}" for k, v in rec["extra"].items()))
        if "content" in rec:
            console.print(Text("  content (curated)", style="bold"))
            for text in _content_lines(rec.get("content")):
                console.print(Text("    " + text), highlight=False, soft_wrap=True)
