"""``lakehouse generate``: edge-case chats and preference pairs from a local model folder or an endpoint.

    lakehouse generate edge-cases --categories all --per-category 4 --seed 7 --model /models/m --output ec.jsonl
    lakehouse generate preference-pairs --release v2026-12-01 --per-record 1 --model http://127.0.0.1:8000/v1 --output pp.jsonl
    lakehouse generate categories
"""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer

from lakehouse.generate import GeneratorError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Generate edge-case chats and preference pairs with a local model or endpoint.")


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def _chat_filter():  # type: ignore[no-untyped-def]
    """The therapist-turn filter (lakehouse.quality); tests replace this function."""
    from lakehouse.generate.filters import quality_chat_filter

    return quality_chat_filter()


def _preference_judge():  # type: ignore[no-untyped-def]
    from lakehouse.generate.filters import quality_preference_judge

    return quality_preference_judge()


def _sampling(temperature: Optional[float], top_p: Optional[float], max_new_tokens: Optional[int]):  # type: ignore[no-untyped-def]
    from lakehouse.generate.model import Sampling

    return Sampling.defaults(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)


MODEL_HELP = "A local Hugging Face model folder, or an OpenAI-compatible base URL (key from LAKEHOUSE_GENERATOR_API_KEY)."


@app.command("edge-cases")
def edge_cases(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    output: str = typer.Option(..., "--output", help="Local JSONL file (appended to; a rerun resumes)."),
    categories: str = typer.Option("all", "--categories", help="all, or a comma list (see `lakehouse generate categories`)."),
    per_category: int = typer.Option(1, "--per-category", help="Chats per category."),
    seed: int = typer.Option(0, "--seed"),
    turns: Optional[int] = typer.Option(None, "--turns", help="Client/therapist exchanges per chat (default: catalogue)."),
    keep_all: bool = typer.Option(False, "--keep-all", help="Keep chats that fail the filter, marked metadata.generation_filter=failed (inspection only: do not land for training)."),
    model_name: Optional[str] = typer.Option(None, "--model-name", help="Endpoint model name (default: the first of GET /models)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="0 = greedy (default: generators.yml)."),
    top_p: Optional[float] = typer.Option(None, "--top-p"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Multi-turn ChatML chats for the edge-case categories: the model plays client and therapist."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from lakehouse.generate.edge_cases import generate_edge_cases, load_catalogue, select_categories
    from lakehouse.generate.model import open_model

    try:
        cat = load_catalogue()
        chosen = select_categories(categories, cat)
        chat_filter = _chat_filter()
        m = open_model(model, _sampling(temperature, top_p, max_new_tokens), model_name=model_name)
        rep = generate_edge_cases(m, chosen, cat, per_category=per_category, seed=seed, output=output, turns=turns,
                                  keep_all=keep_all, chat_filter=chat_filter, progress=progress)
    except GeneratorError as e:
        _err(str(e))
        raise typer.Exit(2)
    reasons = ", ".join(f"{v} {k}" for k, v in sorted(rep.reasons.items()))
    typer.echo(f"edge-cases: {rep.written} written ({rep.failed_kept} failed, kept), {rep.dropped} dropped"
               f"{' (' + reasons + ')' if reasons else ''}, {rep.resumed} already done -> {output}")


@app.command("preference-pairs")
def preference_pairs(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    output: str = typer.Option(..., "--output", help="Local JSONL file (appended to; a rerun resumes)."),
    from_file: Optional[str] = typer.Option(None, "--from", help="ChatML JSONL (local or s3://) with `messages`."),
    release: Optional[str] = typer.Option(None, "--release", help="A release version or folder: its TRAIN records only."),
    families: Optional[str] = typer.Option(None, "--families", help="With --release: a comma list of families (default: every SFT family)."),
    per_record: int = typer.Option(1, "--per-record", help="Pairs per source conversation."),
    seed: int = typer.Option(0, "--seed"),
    min_margin: Optional[float] = typer.Option(None, "--min-margin", help="Override the registry's min_preference_margin."),
    model_name: Optional[str] = typer.Option(None, "--model-name"),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    top_p: Optional[float] = typer.Option(None, "--top-p"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Chosen/rejected replies for conversation prefixes; pairs below the margin threshold are dropped."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from lakehouse.generate import preference as pref
    from lakehouse.generate.model import open_model

    if bool(from_file) == bool(release):
        _err("give exactly one of --from FILE.jsonl or --release V")
        raise typer.Exit(2)
    counts: dict[str, int] = {}
    try:
        threshold = min_margin if min_margin is not None else pref.min_margin()
        judge = _preference_judge()
        fams = [f.strip() for f in families.split(",") if f.strip()] if families else None
        total = None
        if release:
            rel, files = pref.release_train_files(release, fams)
            entries = rel.entries()
            if all(entries[k].records is not None for _, k in files):
                total = sum(int(entries[k].records or 0) for _, k in files)
            records = pref.records_from_release(release, counts, fams)
            source = f"release:{rel.version or release}"
        else:
            records = pref.records_from_file(str(from_file), counts)
            source = f"file:{from_file}"
        m = open_model(model, _sampling(temperature, top_p, max_new_tokens), model_name=model_name)
        rep = pref.generate_preference_pairs(m, records, per_record=per_record, seed=seed, output=output, judge=judge,
                                             threshold=threshold, source=source, progress=progress, total=total)
    except GeneratorError as e:
        _err(str(e))
        raise typer.Exit(2)
    reasons = ", ".join(f"{v} {k}" for k, v in sorted(rep.reasons.items()))
    unusable = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    typer.echo(f"preference-pairs: {rep.sources} source conversations{' (skipped ' + unusable + ')' if unusable else ''}, "
               f"{rep.written} pairs written, {rep.dropped} dropped{' (' + reasons + ')' if reasons else ''}, "
               f"{rep.resumed} already done; min margin {threshold} -> {output}")


@app.command("categories")
def categories_cmd() -> None:
    """List the edge-case catalogue: name, difficulty, origin, description."""
    from lakehouse.generate.edge_cases import load_catalogue

    try:
        cat = load_catalogue()
    except GeneratorError as e:
        _err(str(e))
        raise typer.Exit(2)
    for c in cat.categories.values():
        typer.echo(f"{c.name:28} {c.difficulty:9} {c.origin:5} {c.description}")
