"""``lakehouse export llamafactory|axolotl <version|latest> --output DIR`` (mounted via cli.SUBAPPS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Export a release for LLaMA-Factory or Axolotl.")


def _run(trainer: str, version: str, output: Path, root: Optional[str], as_json: bool) -> None:
    from lakehouse.export.trainers import EXPORTERS, ExportError, open_local_release
    from lakehouse.export.verify import ReleaseNotFound
    from lakehouse.storage import Storage
    from lakehouse.training.release import ReleaseError

    try:
        release = open_local_release(version, Storage.from_env(root))
        res = EXPORTERS[trainer](release, output)
    except (ExportError, ReleaseError, ReleaseNotFound, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(res.as_dict(), indent=2, ensure_ascii=False))
        return
    typer.echo(f"{trainer}: release {res.version} -> {res.output} ({res.datasets} datasets, "
               f"{len(res.stages)} curriculum steps)")
    for st in res.stages:
        mix = ", ".join(f"{d}={p:g}" for d, p in zip(st.datasets, st.probabilities))
        typer.echo(f"  {st.order:02d} {st.config:<10} {st.name}: {mix}  (stages/{st.slug}.yaml)")
    if res.converted_pairs or res.skipped_pairs:
        typer.echo(f"  preference pairs converted: {res.converted_pairs}"
                   + (f", skipped (multi-message chosen/rejected): {res.skipped_pairs}" if res.skipped_pairs else ""))


@app.command("llamafactory")
def llamafactory(
    version: str = typer.Argument(..., help="Release version, or latest."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for dataset_info.json, stages/ and converted files."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root (default: LAKEHOUSE_ROOT)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """dataset_info.json (one entry per family and kind, paths into the release), converted preference
    files, and one training-arguments file per curriculum stage with its mixing probabilities."""
    _run("llamafactory", version, output, root, as_json)


@app.command("axolotl")
def axolotl(
    version: str = typer.Argument(..., help="Release version, or latest."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the stage configs and converted files."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root (default: LAKEHOUSE_ROOT)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """One Axolotl config per curriculum stage (datasets: the release's shard files), converted preference files."""
    _run("axolotl", version, output, root, as_json)
