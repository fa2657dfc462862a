"""Query results to the terminal (a rich table, long cells truncated) or to a csv/json/parquet file."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console

FORMATS = ("table", "csv", "json", "parquet")
_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "json": "FORMAT json", "parquet": "FORMAT parquet"}


def cell_text(value: Any, max_width: int) -> str:
    """One cell as a single line of at most ``max_width`` characters."""
    if value is None:
        return "NULL"
    if isinstance(value, (list, dict, tuple)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = text.replace("\r", " ").replace("\n", "⏎")
    if max_width > 0 and len(text) > max_width:
        return text[: max(max_width - 1, 1)] + "…"
    return text


def fit_widths(natural: list[int], available: int, floor: int = 8) -> list[int]:
    """Column widths that fit ``available`` characters (borders included) by capping the widest ones."""
    def total(ws: list[int]) -> int:
        return sum(ws) + 3 * len(ws) + 1

    cap = max(natural, default=0)
    widths = list(natural)
    while total(widths) > available and cap > floor:
        cap -= 1
        widths = [min(w, cap) for w in natural]
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render_table(table: "pa.Table", console: "Console", *, max_rows: int = 50, max_width: int = 60) -> None:
    """Print the first ``max_rows`` rows (all when negative) as a rich table, cells cut to ``max_width``.

    In a terminal, the widest columns are narrowed until the table fits (never below 8
    characters); to a file or pipe the table is as wide as it needs and never wrapped.
    """
    from rich.table import Table
    from rich.text import Text

    shown = table.slice(0, max_rows) if max_rows >= 0 else table
    raw_rows = shown.to_pylist()
    rows = [[cell_text(v, max_width) for v in row.values()] for row in raw_rows]
    headers = [cell_text(name, max_width) for name in table.column_names]
    natural = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    widths = fit_widths(natural, console.width) if console.is_terminal else natural
    out = Table(show_header=True, header_style="bold", show_lines=False)
    for h, w in zip(headers, widths):
        out.add_column(_cut(h, w), no_wrap=True, width=w)
    for raw, row in zip(raw_rows, rows):
        out.add_row(*[Text(_cut(text, w), style="dim" if v is None else "")
                      for v, text, w in zip(raw.values(), row, widths)])
    saved = console.width
    console.width = max(sum(widths) + 3 * len(widths) + 1, 20)
    try:
        console.print(out, crop=False)
    finally:
        console.width = saved
    n = table.num_rows
    note = f"{n} row{'s' if n != 1 else ''}"
    if shown.num_rows < n:
        note += f" (first {shown.num_rows} shown; --max-rows N, or --format csv|json|parquet --output FILE for all)"
    console.print(note, style="dim", highlight=False, soft_wrap=True)


def write_table(table: "pa.Table", fmt: str, path: str | os.PathLike[str] | None) -> None:
    """Write ``table`` as csv, json (one object per line) or parquet with DuckDB ``COPY``.

    Without a path, csv and json go to stdout; parquet needs a file.
    """
    if fmt not in _COPY_OPTIONS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(_COPY_OPTIONS)}")
    if path is None:
        if fmt == "parquet":
            raise ValueError("--format parquet needs --output FILE")
        with tempfile.TemporaryDirectory(prefix="lakehouse-sql-") as d:
            tmp = os.path.join(d, f"result.{fmt}")
            _copy(table, fmt, tmp)
            with open(tmp, "rb") as f:
                data = f.read()
            buffer = getattr(sys.stdout, "buffer", None)
            if buffer is not None:
                buffer.write(data)
            else:
                sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
        return
    target = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    _copy(table, fmt, target)


def _copy(table: "pa.Table", fmt: str, target: str) -> None:
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.register("result", table)
        quoted = "'" + target.replace("'", "''") + "'"
        con.execute(f"COPY result TO {quoted} ({_COPY_OPTIONS[fmt]})")
    finally:
        con.close()
