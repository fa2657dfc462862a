"""``lakehouse cache``: what the per-record caches hold, and garbage collection."""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Per-record result caches (cache/<stage>/): status and gc.")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@app.command("status")
def status_command(root: Optional[str] = typer.Option(None, "--root", help="Cache root (default LAKEHOUSE_CACHE_ROOT, else LAKEHOUSE_ROOT).")) -> None:
    """Rows, files and size per stage, and how many rows belong to the current configuration."""
    from lakehouse.engine.cache import cache_storage
    from lakehouse.engine.gc import status

    rows = status(cache_storage(root))
    if not rows:
        typer.echo("no caches yet (they appear after the first build)")
        return
    for s in rows:
        cur = s.fingerprints.get(s.current or "", 0)
        typer.echo(f"{s.stage:<20} {s.rows:>12,} rows  {s.files:>6} files  {_mb(s.bytes):>12}  "
                   f"current config: {cur:,} rows ({s.current or 'unknown'}), other configs: {s.rows - cur:,}")


@app.command("gc")
def gc_command(root: Optional[str] = typer.Option(None, "--root", help="Cache root (default LAKEHOUSE_CACHE_ROOT, else LAKEHOUSE_ROOT)."),
               dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be removed; change nothing.")) -> None:
    """Remove entries no current config or landed row reaches (as of the last build), and report what it freed."""
    from lakehouse.engine.cache import cache_storage
    from lakehouse.engine.gc import gc

    results = gc(cache_storage(root), dry_run=dry_run)
    if not results:
        typer.echo("no caches yet")
        return
    freed_rows = freed_bytes = 0
    for r in results:
        freed_rows += r.rows_before - r.rows_after
        freed_bytes += r.bytes_before - r.bytes_after
        verb = "would remove" if dry_run else "removed"
        typer.echo(f"{r.stage:<20} {verb} {r.rows_before - r.rows_after:,} of {r.rows_before:,} rows"
                   + ("" if dry_run else f", freed {_mb(r.bytes_before - r.bytes_after)}"))
    typer.echo(f"total: {freed_rows:,} rows" + ("" if dry_run else f", {_mb(freed_bytes)} freed"))
