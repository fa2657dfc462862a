"""`lakehouse pii`: redact or scan any ChatML JSONL file with the pipeline's redactor and config.

    lakehouse pii redact INPUT.jsonl --output OUT.jsonl        # rewrite, adding metadata.pii_*
    lakehouse pii redact INPUT.jsonl --scan                    # counts by type and by record id only

Records: ``{"messages": [{"role", "content"}, ...], ...}`` (one placeholder scope per record);
preference records (``prompt``/``chosen``/``rejected`` message lists) are one scope too, and
``{"text": ...}`` records are redacted as one text. Every other field is kept. A line that is not
such a record gets a one-line error naming the line on stderr and is copied unchanged to
``OUT.rejects.jsonl``; the exit code is then 1. Nothing here prints message text or matched PII.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

app = typer.Typer(help="Redact or scan ChatML JSONL files for PII (same redactor and privacy.yml as the build).",
                  no_args_is_help=True, add_completion=False)

BATCH = 256
PROGRESS_EVERY_S = 5.0
_PARTS = ("prompt", "chosen", "rejected")
ID_FIELDS = ("id", "record_id", "synthetic_id", "uuid")


class BadRecord(ValueError):
    """A line that is not a redactable record; the message says why (no content)."""


def _check_messages(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadRecord(f"{field} is not a list")
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise BadRecord(f"{field}[{i}] is not an object")
        if "content" in m and m["content"] is not None and not isinstance(m["content"], str):
            raise BadRecord(f"{field}[{i}].content is not a string")
    return value


def parse_record(line: str) -> tuple[dict[str, Any], str, list[dict[str, Any]] | str, tuple[int, ...]]:
    """(record, kind, scope, split): kind 'messages' | 'preference' | 'text'. Raises BadRecord."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise BadRecord(f"invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(rec, dict):
        raise BadRecord("not a JSON object")
    meta = rec.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise BadRecord("metadata is not an object")
    if "messages" in rec:
        return rec, "messages", _check_messages(rec["messages"], "messages"), ()
    if any(p in rec for p in _PARTS):
        parts = [_check_messages(rec.get(p) or [], p) for p in _PARTS]
        return rec, "preference", [m for p in parts for m in p], tuple(len(p) for p in parts)
    if "text" in rec:
        if not isinstance(rec["text"], str):
            raise BadRecord("text is not a string")
        return rec, "text", rec["text"], ()
    raise BadRecord("no messages, prompt/chosen/rejected or text field")


def record_id(rec: dict[str, Any], line_no: int) -> str:
    for f in ID_FIELDS:
        if isinstance(rec.get(f), (str, int)):
            return str(rec[f])
    return f"line {line_no}"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        for n, line in enumerate(fh, 1):
            body = line.rstrip("\r\n")
            if body.strip():
                yield n, body


class _Progress:
    def __init__(self, total_bytes: int, label: str):
        self.t0 = self.last = time.monotonic()
        self.total, self.label, self.records = total_bytes, label, 0

    def tick(self, records: int, pos_bytes: int) -> None:
        self.records = records
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            rate = records / max(now - self.t0, 1e-9)
            share = pos_bytes / self.total if self.total else 1.0
            eta = (now - self.t0) * (1 - share) / share if share > 0 else 0.0
            typer.echo(f"pii {self.label}: {records:,} records, {rate:,.0f} records/s, {share:.0%} read, ETA {eta:,.0f} s",
                       err=True)

    def done(self) -> float:
        return time.monotonic() - self.t0


def _apply(rec: dict[str, Any], kind: str, split: tuple[int, ...], res: Any) -> dict[str, Any]:
    out = dict(rec)
    if kind == "messages":
        out["messages"] = res.messages
    elif kind == "preference":
        msgs = res.messages or []
        a, b, _ = split
        for part, chunk in zip(_PARTS, (msgs[:a], msgs[a:a + b], msgs[a + b:])):
            if part in rec:
                out[part] = chunk
    else:
        out["text"] = res.text
    meta = dict(rec.get("metadata") or {})
    meta["pii_redactions"] = dict(sorted(res.counts.items()))
    meta["pii_status"] = res.pii_status
    out["metadata"] = meta
    return out


def _flush(redactor: Any, batch: list[tuple[int, dict[str, Any], str, Any, tuple[int, ...]]], scan: bool) -> list[Any]:
    """Results for a batch of parsed records: RedactionResults, or per-type counts when scanning."""
    convs = [(i, scope) for i, (_, _, kind, scope, _) in enumerate(batch) if kind != "text"]
    texts = [(i, scope) for i, (_, _, kind, scope, _) in enumerate(batch) if kind == "text"]
    out: list[Any] = [None] * len(batch)
    if scan:
        from .findings import count_by_type

        conv_texts = [[m["content"] for m in scope if isinstance(m.get("content"), str)] for _, scope in convs]
        for (i, _), found in zip(convs, redactor.detect_conversations(conv_texts) if convs else []):
            out[i] = count_by_type(f for msg in found for f in msg)
        for (i, _), found in zip(texts, redactor.detect_texts([t for _, t in texts]) if texts else []):
            out[i] = count_by_type(found)
        return out
    for (i, _), res in zip(convs, redactor.redact_conversations([scope for _, scope in convs]) if convs else []):
        out[i] = res
    for (i, _), res in zip(texts, redactor.redact_texts([t for _, t in texts]) if texts else []):
        out[i] = res
    return out


@app.command("redact")
def redact(
    input: Path = typer.Argument(..., help="ChatML JSONL file to redact (one record per line)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Redacted JSONL (required unless --scan)."),
    scan: bool = typer.Option(False, "--scan", help="Only report counts by type and by record id; write nothing."),
    config: Optional[Path] = typer.Option(None, "--config", help="privacy.yml (default: the packaged one, as in the build)."),
) -> None:
    """Redact PII in every record (placeholders consistent per record), adding metadata.pii_redactions
    (counts by type) and metadata.pii_status; or, with --scan, count findings without rewriting."""
    from .config import PrivacyConfigError
    from .redactor import Redactor, get_redactor

    if not input.is_file():
        typer.echo(f"error: input file not found: {input}", err=True)
        raise typer.Exit(2)
    if output is None and not scan:
        typer.echo("error: --output is required (or use --scan)", err=True)
        raise typer.Exit(2)
    if output is not None and output.resolve() == input.resolve():
        typer.echo("error: --output must differ from the input file", err=True)
        raise typer.Exit(2)
    try:
        if config is None:
            redactor = get_redactor()
        else:
            from .config import load_privacy_config

            redactor = Redactor(load_privacy_config(str(config)))
        redactor.engine  # noqa: B018  (load spaCy/Presidio now: config errors surface before any output)
    except (PrivacyConfigError, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None

    rejects_path = output.with_name(output.name.removesuffix(".jsonl") + ".rejects.jsonl") if output else None
    out_fh = output.open("w", encoding="utf-8", newline="\n") if output and not scan else None
    rej_fh = None
    bad = 0
    done = 0
    by_type: dict[str, int] = {}
    by_record: dict[str, dict[str, int]] = {}
    statuses: dict[str, int] = {}
    progress = _Progress(input.stat().st_size, "scan" if scan else "redact")
    batch: list[tuple[int, dict[str, Any], str, Any, tuple[int, ...]]] = []
    pos = 0

    def emit(items: list[tuple[int, dict[str, Any], str, Any, tuple[int, ...]]]) -> None:
        nonlocal done
        for (line_no, rec, kind, _, split), res in zip(items, _flush(redactor, items, scan)):
            if scan:
                counts = res
                by_record[record_id(rec, line_no)] = counts
            else:
                counts = res.counts
                statuses[res.pii_status] = statuses.get(res.pii_status, 0) + 1
                out_fh.write(json.dumps(_apply(rec, kind, split, res), ensure_ascii=False) + "\n")  # type: ignore[union-attr]
            for k, v in counts.items():
                by_type[k] = by_type.get(k, 0) + v
        done += len(items)

    try:
        for line_no, line in _lines(input):
            pos += len(line.encode("utf-8", "surrogateescape")) + 1
            try:
                rec, kind, scope, split = parse_record(line)
            except BadRecord as e:
                bad += 1
                typer.echo(f"error: {input.name} line {line_no}: {e}", err=True)
                if rejects_path is not None:
                    if rej_fh is None:
                        rej_fh = rejects_path.open("w", encoding="utf-8", errors="surrogateescape", newline="\n")
                    rej_fh.write(line + "\n")
                continue
            batch.append((line_no, rec, kind, scope, split))
            if len(batch) >= BATCH:
                emit(batch)
                batch = []
                progress.tick(done, pos)
        if batch:
            emit(batch)
    finally:
        if out_fh:
            out_fh.close()
        if rej_fh:
            rej_fh.close()
    secs = progress.done()
    if scan:
        typer.echo(json.dumps({"records": done, "rejected": bad, "findings_by_type": dict(sorted(by_type.items())),
                               "findings_by_record": {k: dict(sorted(v.items())) for k, v in by_record.items()}},
                              indent=1, ensure_ascii=False))
    else:
        typer.echo(json.dumps({"records": done, "rejected": bad, "output": str(output),
                               "rejects": str(rejects_path) if bad else None,
                               "pii_status": dict(sorted(statuses.items())),
                               "redactions_by_type": dict(sorted(by_type.items()))}, ensure_ascii=False))
    typer.echo(f"pii {'scan' if scan else 'redact'}: {done:,} records in {secs:,.1f} s "
               f"({done / max(secs, 1e-9):,.0f} records/s), {bad} rejected", err=True)
    if bad:
        raise typer.Exit(1)
