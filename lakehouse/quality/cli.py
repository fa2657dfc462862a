"""``lakehouse quality``: score ChatML JSONL outside the pipeline (calibration, external data).

    lakehouse quality score in.jsonl --output out.jsonl            # adds metadata.quality to every line
    lakehouse quality score in.jsonl --output out.jsonl --lexicon-only
    lakehouse quality fingerprint                                   # scorer, version, config hash (JSON)

A bad line is reported on stderr with its line number and copied unchanged to OUT.rejects.jsonl;
the exit code is 0 when every line was scored, 1 otherwise. Nothing but JSON goes to stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Clinical quality scores: empathy, coherence, crisis handling, harm.")

_BATCH = 256


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _messages(value: Any, default_role: str, field: str) -> list[dict[str, str]]:
    """A message list ([{role, content}]); a bare string becomes one message of ``default_role``."""
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if not isinstance(value, list):
        raise ValueError(f"`{field}` must be a list of messages")
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"`{field}` holds an item that is not {{role, content}}")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def parse_record(obj: Any) -> Any:
    """The scorer Record of one ChatML JSON object (sft messages, preference pair or text)."""
    from .scorers import Record

    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if "chosen" in obj or "rejected" in obj:
        if "chosen" not in obj or "rejected" not in obj:
            raise ValueError("a preference record needs both `chosen` and `rejected`")
        return Record("preference", prompt=_messages(obj.get("prompt") or [], "user", "prompt"),
                      chosen=_messages(obj["chosen"], "assistant", "chosen"),
                      rejected=_messages(obj["rejected"], "assistant", "rejected"))
    if "messages" in obj:
        return Record("sft", messages=_messages(obj["messages"], "user", "messages"))
    if isinstance(obj.get("text"), str):
        return Record("pretrain", text=obj["text"])
    raise ValueError("no `messages`, `chosen`/`rejected` or `text`")


@app.command()
def score(
    input_path: Path = typer.Argument(..., metavar="INPUT.jsonl", help="ChatML JSON Lines (messages, prompt/chosen/rejected, or text)."),
    output: Path = typer.Option(..., "--output", "-o", help="Scored copy (adds metadata.quality); rejects go to OUT.rejects.jsonl."),
    config: Optional[Path] = typer.Option(None, "--config", help="Another quality.yml."),
    lexicon_only: bool = typer.Option(False, "--lexicon-only", help="No embedding model (embeddings: false)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Copy each record of INPUT.jsonl to OUTPUT with metadata.quality added."""
    from .batch import quality_fingerprint, quality_metadata
    from .config import QualityConfigError
    from .scorers import get_scorer

    if not input_path.is_file():
        _err(f"error: input not found: {input_path}")
        raise typer.Exit(2)
    overrides: dict[str, Any] = {"embeddings": False} if lexicon_only else {}
    cfg_path = str(config) if config else None
    try:
        scorer = get_scorer(cfg_path, **overrides)
        fp = quality_fingerprint(**({"config_path": cfg_path} if cfg_path else {}), **overrides)
    except QualityConfigError as e:
        _err(f"error: {e}")
        raise typer.Exit(2)
    rejects_path = output.with_name(output.name.removesuffix(".jsonl") + ".rejects.jsonl")
    output.parent.mkdir(parents=True, exist_ok=True)
    n_ok = n_bad = 0
    t0 = last = time.monotonic()
    pending: list[tuple[dict[str, Any], Any]] = []

    def flush(out_f: Any) -> None:
        nonlocal n_ok
        if not pending:
            return
        scores = scorer.score_records([rec for _, rec in pending])
        for (obj, _), s in zip(pending, scores):
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            obj["metadata"] = {**meta, "quality": quality_metadata(s),
                               "quality_scorer": {k: fp[k] for k in ("scorer", "version", "config_hash")}}
            out_f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        n_ok += len(pending)
        pending.clear()

    rejects_f = None
    try:
        with input_path.open("rb") as in_f, output.open("w", encoding="utf-8") as out_f:
            for lineno, raw in enumerate(in_f, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                    rec = parse_record(obj)
                except (ValueError, UnicodeDecodeError) as e:
                    reason = "invalid JSON" if isinstance(e, json.JSONDecodeError) else str(e)
                    _err(f"line {lineno}: {reason}")
                    if rejects_f is None:
                        rejects_f = rejects_path.open("wb")
                    rejects_f.write(raw if raw.endswith(b"\n") else raw + b"\n")
                    n_bad += 1
                    continue
                pending.append((obj, rec))
                if len(pending) >= _BATCH:
                    flush(out_f)
                    now = time.monotonic()
                    if now - last >= 10:
                        _err(f"scored {n_ok} records, {n_ok / (now - t0):.1f}/s")
                        last = now
            flush(out_f)
    finally:
        if rejects_f is not None:
            rejects_f.close()
    _err(f"scored {n_ok}, rejected {n_bad}" + (f" (see {rejects_path})" if n_bad else ""))
    if as_json:
        typer.echo(json.dumps({"scored": n_ok, "rejected": n_bad, "output": str(output),
                               "rejects": str(rejects_path) if n_bad else None, "scorer": fp}))
    raise typer.Exit(1 if n_bad else 0)


@app.command()
def fingerprint(
    lexicon_only: bool = typer.Option(False, "--lexicon-only"),
    config: Optional[Path] = typer.Option(None, "--config"),
) -> None:
    """Scorer name, version and config hash as JSON (the cache key and provenance entry)."""
    from .batch import quality_fingerprint
    from .config import QualityConfigError

    kw: dict[str, Any] = {"embeddings": False} if lexicon_only else {}
    if config:
        kw["config_path"] = str(config)
    try:
        typer.echo(json.dumps(quality_fingerprint(**kw), sort_keys=True))
    except QualityConfigError as e:
        _err(f"error: {e}")
        raise typer.Exit(2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
