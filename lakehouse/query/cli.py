"""``lakehouse sql`` and ``lakehouse trace``: plain functions with typer annotations.

Mounted in lakehouse/cli.py with ``app.command("sql")(sql_command)`` and
``app.command("trace")(trace_command)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from lakehouse.query.sql import QuerySession
    from lakehouse.storage import Storage

_EXT_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet",
                ".pq": "parquet"}
REPL_HELP = """\
end a statement with ';' (it may span lines). Commands:
  .tables          the views and what they hold
  .schema VIEW     the columns of a view
  .help            this help
  .quit            leave (or Ctrl+D)"""


def _err(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)


def _storage(root: Optional[str]) -> "Storage":
    from lakehouse.config import ConfigError
    from lakehouse.storage import Storage

    try:
        return Storage.from_env(root)
    except ConfigError as e:
        _err(str(e))
        raise typer.Exit(2)


def _console() -> "Console":
    from rich.console import Console

    return Console(soft_wrap=False)


def _output_format(fmt: str, output: Optional[Path]) -> str:
    from lakehouse.query.output import FORMATS

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if output is not None and fmt == "table":
        guessed = _EXT_FORMATS.get(output.suffix.lower())
        if guessed is None:
            raise typer.BadParameter("give --format csv|json|parquet for this file name", param_hint="--format")
        return guessed
    return fmt


def run_repl(session: "QuerySession", console: "Console", *, read: Callable[[str], str] = input,
             max_rows: int = 50, max_width: int = 60) -> None:
    """A small prompt: statements end with ';', dot commands, Ctrl+D or .quit leaves."""
    from lakehouse.query.output import render_table
    from lakehouse.query.sql import QueryError

    console.print(f"lakehouse sql on {session.storage.root} — views: {', '.join(session.views) or 'none'}",
                  highlight=False, markup=False, soft_wrap=True)
    console.print("type .help for help, .quit to leave", style="dim", highlight=False)
    buf: list[str] = []
    while True:
        try:
            line = read("lakehouse> " if not buf else "       ...> ")
        except EOFError:
            break
        except KeyboardInterrupt:
            buf = []
            console.print()
            continue
        stripped = line.strip()
        if not buf and stripped.startswith("."):
            if not _dot_command(stripped, session, console, max_rows=max_rows, max_width=max_width):
                break
            continue
        if not stripped and not buf:
            continue
        buf.append(line)
        if stripped.endswith(";"):
            sql, buf = "\n".join(buf), []
            try:
                render_table(session.query(sql), console, max_rows=max_rows, max_width=max_width)
            except QueryError as e:
                console.print(f"error: {e}", style="red", highlight=False, markup=False)


def _dot_command(cmd_line: str, session: "QuerySession", console: "Console", *, max_rows: int, max_width: int) -> bool:
    """Run a dot command; False means leave the prompt."""
    from lakehouse.query.output import render_table
    from lakehouse.query.sql import QueryError
    from lakehouse.query.views import ident

    cmd, _, arg = cmd_line.partition(" ")
    if cmd in (".quit", ".exit", ".q"):
        return False
    if cmd == ".tables":
        for name, desc in session.describe().items():
            console.print(f"  {name:<22} {desc}", highlight=False, markup=False, soft_wrap=True)
        if not session.views:
            console.print("  (none: `lakehouse land` then `dbt build --select release`)", highlight=False, markup=False)
    elif cmd == ".schema" and arg.strip():
        try:
            render_table(session.query(f"describe {ident(arg.strip().rstrip(';'))}"), console,
                         max_rows=-1, max_width=max_width)
        except QueryError as e:
            console.print(f"error: {e}", style="red", highlight=False, markup=False)
    elif cmd == ".help":
        console.print(REPL_HELP, highlight=False, markup=False)
    else:
        console.print(f"unknown command {cmd}; .help lists them", style="red", highlight=False, markup=False)
    return True


def sql_command(
    statement: Optional[str] = typer.Argument(
        None, help="A read-only query (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); '-' reads it from stdin; "
                   "none opens an interactive prompt."),
    fmt: str = typer.Option("table", "--format", "-f", help="table (terminal), csv, json (one object per line) or parquet."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the whole result to this file."),
    attach: Optional[Path] = typer.Option(None, "--attach", help="Write a DuckDB database file whose views read the "
                                                                  "lakehouse tables, print how to open it, and exit."),
    max_rows: int = typer.Option(50, "--max-rows", help="Rows shown in the terminal table."),
    max_width: int = typer.Option(60, "--max-width", help="Characters shown per cell in the terminal table."),
    allow_raw: bool = typer.Option(False, "--allow-raw", help="Also offer original, unredacted text: the raw_<source> "
                                                               "views and the text columns of quarantine. Each use is "
                                                               "logged (who, when, which views; no text)."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root (default: LAKEHOUSE_ROOT or ./lakehouse-data)."),
) -> None:
    """Read-only SQL over the lakehouse (DuckDB views: conversations, messages, quarantine, releases, raw_<source>, ...)."""
    from lakehouse.query.output import render_table, write_table
    from lakehouse.query.sql import MissingView, QueryError, QuerySession, ReadOnlyViolation, attach_instructions, \
        ensure_read_only, write_attach_db

    storage = _storage(root)
    if attach is not None:
        try:
            views = write_attach_db(attach, storage, allow_raw=allow_raw)
        except MissingView as e:
            _err(str(e))
            raise typer.Exit(1)
        typer.echo(attach_instructions(attach, storage))
        typer.echo(f"views: {', '.join(views)}")
        return
    out_fmt = _output_format(fmt, output)
    if statement == "-":
        statement = sys.stdin.read()
    try:
        if statement is not None:
            ensure_read_only(statement)   # refuse before connecting
        with QuerySession(storage, allow_raw=allow_raw) as session:
            if statement is None:
                run_repl(session, _console(), max_rows=max_rows, max_width=max_width)
                return
            table = session.query(statement)
    except ReadOnlyViolation as e:
        _err(str(e))
        raise typer.Exit(2)
    except (MissingView, QueryError) as e:
        _err(str(e))
        raise typer.Exit(1)
    if out_fmt == "table":
        render_table(table, _console(), max_rows=max_rows, max_width=max_width)
        return
    try:
        write_table(table, out_fmt, output)
    except ValueError as e:
        _err(str(e))
        raise typer.Exit(2)
    if output is not None:
        typer.echo(f"wrote {table.num_rows} rows to {output} ({out_fmt})", err=True)


def trace_command(
    record: str = typer.Argument(..., help="A record_id (source:file-sha12:row) or a content_hash (or its first 8+ hex)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    show_text: bool = typer.Option(False, "--show-text", help="Also print the released (curated) content."),
    root: Optional[str] = typer.Option(None, "--root", help="Lakehouse root (default: LAKEHOUSE_ROOT or ./lakehouse-data)."),
) -> None:
    """A record's story: source, landing, every transformation, dedup decision, split and releases."""
    from lakehouse.query.render import render_trace
    from lakehouse.query.sql import QueryError
    from lakehouse.query.trace import TraceError, trace_record

    storage = _storage(root)
    try:
        trace = trace_record(storage, record, show_text=show_text)
    except (TraceError, QueryError) as e:
        _err(str(e))
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(trace, ensure_ascii=False, indent=2, sort_keys=False, default=str))
        return
    render_trace(trace, _console())
