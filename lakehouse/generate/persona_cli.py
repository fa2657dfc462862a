"""``lakehouse persona``: a voice persona (profile, pretraining chunks, dialogue pairs) from transcripts.

    lakehouse persona build talks/*.vtt --name host --output personas/
    lakehouse persona dual --persona alice=a1.txt,a2.srt --persona bob=s3://bucket/bob/ --output personas/
    lakehouse persona score answer.txt --profile personas/host_profile.json
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

from lakehouse.generate import GeneratorError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Build a voice persona from talk transcripts.")


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def _open_model(model: Optional[str], model_name: Optional[str], temperature: Optional[float],
                max_new_tokens: Optional[int]):  # type: ignore[no-untyped-def]
    if not model:
        return None
    from lakehouse.generate.model import Sampling, open_model

    return open_model(model, Sampling.defaults(temperature=temperature, max_new_tokens=max_new_tokens or 64),
                      model_name=model_name)


def _summary(rep) -> str:  # type: ignore[no-untyped-def]
    removed = ", ".join(f"{v} {k}" for k, v in sorted(rep.removed_chars.items())) or "nothing"
    return (f"persona {rep.name}: {rep.words} words, {rep.chunks} pretraining chunks, "
            f"{rep.pairs_rhetorical} rhetorical + {rep.pairs_model} model-question pairs "
            f"({rep.pairs_resumed} already written), mean voice consistency {rep.mean_voice_consistency}; "
            f"removed chars: {removed}\n  {rep.profile_path}\n  {rep.pretrain_path}\n  {rep.dialogue_path}")


@app.command("build")
def build(
    transcripts: List[str] = typer.Argument(..., help="Transcript files or folders (.txt, .srt, .vtt), local or s3://."),
    name: str = typer.Option(..., "--name", help="Persona name: names the output files."),
    output: str = typer.Option(..., "--output", help="Local output folder."),
    display_name: Optional[str] = typer.Option(None, "--display-name", help="Name used in the pairs' system message."),
    speaker: Optional[str] = typer.Option(None, "--speaker", help="Keep only this speaker's labelled lines (NAME: / <v NAME>)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model that writes listener questions (local folder or endpoint URL)."),
    model_name: Optional[str] = typer.Option(None, "--model-name"),
    questions_per_chunk: Optional[int] = typer.Option(None, "--questions-per-chunk", help="Model-written questions per chunk (default 1 with --model)."),
    seed: int = typer.Option(0, "--seed"),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Question length limit (default 64)."),
    register: bool = typer.Option(False, "--register", help="Also copy the profile to <LAKEHOUSE_ROOT>/personas/ for releases."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Profile, pretraining chunks and dialogue pairs of one speaker."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from lakehouse.generate.persona import build_persona, register_profile

    try:
        m = _open_model(model, model_name, temperature, max_new_tokens)
        rep = build_persona(name, transcripts, output, model=m, seed=seed, questions_per_chunk=questions_per_chunk,
                            speaker=speaker, display_name=display_name, progress=progress)
        typer.echo(_summary(rep))
        if register:
            typer.echo(f"  registered {register_profile(rep.profile_path)}")
    except GeneratorError as e:
        _err(str(e))
        raise typer.Exit(2)


def _parse_persona(spec: str) -> tuple[str, list[str]]:
    name, sep, files = spec.partition("=")
    if not sep or not name.strip() or not files.strip():
        raise GeneratorError(f"--persona {spec!r}: expected NAME=TRANSCRIPT[,TRANSCRIPT...]")
    return name.strip(), [f.strip() for f in files.split(",") if f.strip()]


@app.command("dual")
def dual(
    persona: List[str] = typer.Option(..., "--persona", help="NAME=TRANSCRIPT[,TRANSCRIPT...]; give it twice."),
    output: str = typer.Option(..., "--output", help="Local output folder."),
    model: Optional[str] = typer.Option(None, "--model"),
    model_name: Optional[str] = typer.Option(None, "--model-name"),
    questions_per_chunk: Optional[int] = typer.Option(None, "--questions-per-chunk"),
    seed: int = typer.Option(0, "--seed"),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
    register: bool = typer.Option(False, "--register"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Two personas side by side: both profiles, and one dialogue set with pairs tagged by persona."""
    from lakehouse.generate.persona import build_dual, register_profile

    try:
        if len(persona) != 2:
            raise GeneratorError(f"give --persona exactly twice (got {len(persona)})")
        specs = [_parse_persona(p) for p in persona]
        m = _open_model(model, model_name, temperature, max_new_tokens)
        reps, dual_path, cross = build_dual(specs, output, model=m, seed=seed, questions_per_chunk=questions_per_chunk,
                                            progress=progress)
        for rep in reps:
            typer.echo(_summary(rep))
            if register:
                typer.echo(f"  registered {register_profile(rep.profile_path)}")
        typer.echo(f"dual set: {dual_path}")
        for own, row in cross.items():
            typer.echo(f"  {own}'s answers, mean voice consistency: " + ", ".join(f"vs {k} {v}" for k, v in row.items()))
    except GeneratorError as e:
        _err(str(e))
        raise typer.Exit(2)


@app.command("score")
def score(
    inputs: List[str] = typer.Argument(..., help="Text files, or - for stdin."),
    profile: str = typer.Option(..., "--profile", help="A <name>_profile.json."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per input, with the components."),
) -> None:
    """Voice consistency (0..1) of each text against a profile."""
    from lakehouse.generate.persona import voice_components, voice_consistency

    try:
        prof = json.loads(Path(profile).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        _err(f"--profile {profile}: {e.__class__.__name__}: {e}")
        raise typer.Exit(2)
    for src in inputs:
        try:
            text = sys.stdin.read() if src == "-" else Path(src).read_text(encoding="utf-8")
        except OSError as e:
            _err(f"{src}: {e.strerror or e}")
            raise typer.Exit(2)
        s = voice_consistency(text, prof)
        if as_json:
            comps = {k: round(v, 3) for k, v in voice_components(text, prof).items()}
            typer.echo(json.dumps({"input": src, "voice_consistency": s, "components": comps}))
        else:
            typer.echo(f"{s:.3f}\t{src}")

