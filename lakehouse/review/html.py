"""index.html of a review packet: one printable page per sampled conversation, no server, no script."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from lakehouse.review.config import Rubric

if TYPE_CHECKING:
    from lakehouse.review.sample import SampledRecord

CSS = """
body { font: 11pt/1.45 Georgia, 'Times New Roman', serif; margin: 0 auto; max-width: 50em; padding: 1em; color: #111; }
h1 { font-size: 18pt; } h2 { font-size: 13pt; margin: 0 0 .3em; } code { font-size: 9pt; }
.page { page-break-after: always; break-after: page; border-bottom: 2px dashed #999; padding: 1em 0 2em; }
.meta td { padding: 0 .8em 0 0; font-size: 9.5pt; vertical-align: top; }
.flag { display: inline-block; border: 1px solid #555; border-radius: 3px; padding: 0 .4em; margin-right: .3em; font-size: 9pt; }
.flag.crisis { border-color: #b00; color: #b00; font-weight: bold; }
.flag.quarantined { border-color: #a60; color: #a60; }
.msg { margin: .4em 0; padding: .4em .6em; border-left: 4px solid #ccc; white-space: pre-wrap; }
.msg.user { border-color: #4a7; } .msg.assistant, .msg.chosen { border-color: #47a; } .msg.rejected { border-color: #a44; }
.msg.system { border-color: #999; font-style: italic; } .role { font-weight: bold; font-size: 9pt; text-transform: uppercase; }
table.rubric { border-collapse: collapse; width: 100%; margin-top: .8em; font-size: 9.5pt; }
table.rubric td, table.rubric th { border: 1px solid #888; padding: .25em .4em; text-align: left; }
.box { display: inline-block; width: .9em; height: .9em; border: 1px solid #333; margin: 0 .2em 0 .6em; vertical-align: middle; }
.notes { border: 1px solid #888; height: 4em; margin-top: .5em; padding: .2em; font-size: 9pt; color: #666; }
@media print { body { max-width: none; } .page { border: none; } }
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _msg(role: str, content: Any, max_chars: int) -> str:
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    cut = len(text) > max_chars
    text = text[:max_chars] + (f"\n[... {len(text) - max_chars} more characters not shown]" if cut else "")
    return f'<div class="msg {_e(role)}"><div class="role">{_e(role)}</div>{_e(text)}</div>'


def _conversation(p: dict[str, Any], max_chars: int) -> str:
    parts: list[str] = []
    for m in p.get("messages") or []:
        parts.append(_msg(str(m.get("role")), m.get("content"), max_chars))
    if p.get("prompt") is not None or p.get("chosen") is not None:
        for m in p.get("prompt") or []:
            parts.append(_msg(str(m.get("role")), m.get("content"), max_chars))
        for m in p.get("chosen") or []:
            parts.append(_msg("chosen", m.get("content"), max_chars))
        for m in p.get("rejected") or []:
            parts.append(_msg("rejected", m.get("content"), max_chars))
    if isinstance(p.get("text"), str):
        parts.append(_msg("text", p["text"], max_chars))
    if "label" in p:
        parts.append(f"<p><b>KTO label:</b> {_e(p['label'])} (is the last assistant turn desirable?)</p>")
    return "\n".join(parts) or "<p><i>(content could not be rebuilt for display: use `lakehouse trace` with "\
                                "access to quarantine/)</i></p>"


def _scores(q: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k in sorted(q):
        v = q[k]
        if isinstance(v, dict):
            out += _scores(v, prefix + k + ".")
        else:
            out.append((prefix + k, v))
    return out


def _page(i: int, n: int, r: "SampledRecord", rubric: Rubric, max_chars: int) -> str:
    flags = []
    if r.crisis:
        flags.append('<span class="flag crisis">crisis disclosure</span>')
    if r.near_threshold:
        flags.append('<span class="flag">near a quality threshold</span>')
    if r.is_training_edge_case:
        flags.append('<span class="flag">training edge case</span>')
    if r.status == "quarantined":
        flags.append(f'<span class="flag quarantined">quarantined: {_e(r.quarantine_reason_code)}</span>')
    for f in r.stereotype_flags:
        flags.append(f'<span class="flag">stereotype: {_e(f)}</span>')
    if r.stereotype and not r.stereotype_flags:
        flags.append('<span class="flag">stereotyping (bias_score &gt; 0)</span>')
    scores = _scores(r.quality)
    score_html = (", ".join(f"{_e(k)} {_e(v)}" for k, v in scores) if scores else "<i>no quality scores in this release</i>")
    verdicts = ["pass", "fail", "escalate"] + (["release"] if r.status == "quarantined" else [])
    rows = "\n".join(
        f"<tr><td><b>{_e(it.label)}</b><br>{_e(it.question)}</td><td>"
        + "".join(f'<span class="box"></span>{_e(v)}' for v in it.values) + "</td></tr>"
        for it in rubric.items)
    reason = f"<tr><td>quarantine reason</td><td>{_e(r.quarantine_reason)}</td></tr>" if r.quarantine_reason else ""
    return f"""
<section class="page" id="{_e(r.record_id)}">
<h2>{i} / {n} &middot; {_e(r.family)} &middot; {_e(r.status)}</h2>
<table class="meta">
<tr><td>record_id</td><td><code>{_e(r.record_id)}</code></td></tr>
<tr><td>content_hash</td><td><code>{_e(r.content_hash or '-')}</code></td></tr>
<tr><td>kind / stage / split</td><td>{_e(r.kind)} / {_e(r.stage if r.stage is not None else '-')} / {_e(r.split or '-')}</td></tr>
<tr><td>sampled as</td><td>{_e(r.stratum)}; pii_status {_e(r.pii_status or '-')}</td></tr>
<tr><td>scores</td><td>{score_html}</td></tr>{reason}
<tr><td>flags</td><td>{''.join(flags) or '-'}</td></tr>
</table>
{_conversation(r.payload, max_chars)}
<table class="rubric"><tr><th>Rubric (v{_e(rubric.version)})</th><th>value</th></tr>
{rows}
<tr><td><b>Verdict</b></td><td>{''.join(f'<span class="box"></span>{v}' for v in verdicts)}</td></tr>
</table>
<div class="notes">notes (required for fail, escalate, release; never copy conversation text or names here)</div>
</section>"""


def render_packet(version: str, records: list["SampledRecord"], rubric: Rubric, *, max_chars: int = 6000) -> str:
    n = len(records)
    verdicts = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in rubric.verdicts.items())
    items = "".join(f"<li><b>{_e(it.id)}</b> ({'/'.join(_e(v) for v in it.values)}): {_e(it.question)}</li>"
                    for it in rubric.items)
    fams: dict[str, int] = {}
    for r in records:
        fams[r.family] = fams.get(r.family, 0) + 1
    pages = "\n".join(_page(i + 1, n, r, rubric, max_chars) for i, r in enumerate(records))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clinician QA packet {_e(version)}</title>
<style>{CSS}</style></head><body>
<section class="page">
<h1>Clinician QA packet: release {_e(version)}</h1>
<p>{n} conversations ({', '.join(f'{_e(k)} {v}' for k, v in sorted(fams.items()))}). Text is redacted
(placeholders such as &lt;PERSON_1&gt; replace identifiers); quarantined records were redacted for this packet.
Record your judgement in <code>qa_samples.csv</code> (one row per page, same record_id), then run
<code>lakehouse qa record qa_samples.csv --reviewer YOUR_ID</code>. See docs/review.md.</p>
<h2>Verdicts</h2><ul>{verdicts}</ul>
<h2>Rubric v{_e(rubric.version)}</h2><ul>{items}</ul>
</section>
{pages}
</body></html>
"""
