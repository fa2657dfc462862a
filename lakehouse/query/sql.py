"""Read-only SQL over the lakehouse: statement checks, a locked DuckDB session, ``--attach`` files.

Every statement is checked twice before it runs: by sqlglot (dialect duckdb: the statement kind
and every node inside it) and by DuckDB's own parser (the statement type). Only queries pass:
SELECT / WITH / set operations / VALUES / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN of a query.
After the views are created the connection's configuration is locked, so ``SET`` cannot loosen it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any

from lakehouse.query.views import create_views, describe_views, missing_hint
from lakehouse.storage import Storage

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# functions that expose credentials or run SQL text the checks cannot see
FORBIDDEN_FUNCTIONS = frozenset({"duckdb_secrets", "which_secret", "query", "duckdb_settings_unredacted"})
_EXPLAIN_RE = re.compile(r"^\s*explain\s+(analyze\s+)?", re.IGNORECASE)
_FUNC_RE = re.compile(r"\b(" + "|".join(sorted(FORBIDDEN_FUNCTIONS)) + r")\s*\(", re.IGNORECASE)
# DuckDB's parser reads the files named by IMPORT DATABASE: refuse it before parsing
_IMPORT_RE = re.compile(r"(?:^|;)\s*(import|export)\s+database\b", re.IGNORECASE | re.MULTILINE)
_MISSING_TABLE_RE = re.compile(r"Table with name ([^\s!]+) does not exist", re.IGNORECASE)


class QueryError(Exception):
    """A statement could not run; the message says why (no data in it)."""


class ReadOnlyViolation(QueryError):
    """The statement is not a read-only query."""


class MissingView(QueryError):
    """The statement names a lakehouse view whose table does not exist yet."""


def _violation(kind: str, index: int, total: int) -> ReadOnlyViolation:
    where = f" (statement {index} of {total})" if total > 1 else ""
    return ReadOnlyViolation(f"only read-only queries are allowed: got {kind.upper()}{where}")


def _node_kind(node: Any) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Command):
        return str(node.this).split()[0].upper()
    if isinstance(node, exp.TruncateTable):
        return "TRUNCATE"
    if isinstance(node, exp.Set):
        return "SET"
    return type(node).__name__.upper()


def _forbidden_node_types() -> tuple[type, ...]:
    from sqlglot import exp

    names = ("Insert", "Update", "Delete", "Create", "Drop", "Alter", "Copy", "Attach", "Detach", "Set", "Command",
             "Pragma", "Install", "Merge", "TruncateTable", "Use", "Transaction", "Commit", "Rollback", "Comment",
             "Export", "LoadData", "Refresh", "Grant", "Revoke", "Analyze", "Cache", "Uncache")
    return tuple(getattr(exp, n) for n in names if hasattr(exp, n))


def _allowed_top_types() -> tuple[type, ...]:
    from sqlglot import exp

    return (exp.Select, exp.SetOperation, exp.Values, exp.Describe, exp.Show, exp.Summarize, exp.Subquery)


def _function_name(node: Any) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return str(node.sql_name()).lower()


def _check_tree(tree: Any) -> str | None:
    """The kind of the first forbidden node or function in a parsed statement, or None.

    ``EXPLAIN`` (a sqlglot Command) passes here: the DuckDB pass checks what it explains.
    """
    from sqlglot import exp

    if isinstance(tree, exp.Command) and str(tree.this).upper() == "EXPLAIN":
        return None
    if not isinstance(tree, _allowed_top_types()):
        return _node_kind(tree)
    forbidden = _forbidden_node_types()
    for node in tree.walk():
        if isinstance(node, forbidden):
            return _node_kind(node)
        if isinstance(node, exp.Func) and _function_name(node) in FORBIDDEN_FUNCTIONS:
            return f"{_function_name(node)}()"
    return None


def _sqlglot_check(sql: str) -> tuple[str | None, int, int, bool]:
    """(forbidden kind or None, statement index, statement count, parsed) according to sqlglot."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        trees = [t for t in sqlglot.parse(sql, dialect="duckdb") if t is not None]
    except SqlglotError:
        return None, 0, 0, False
    for i, tree in enumerate(trees, 1):
        bad = _check_tree(tree)
        if bad:
            return bad, i, len(trees), True
    return None, 0, len(trees), True


def _duck_statements(sql: str) -> list[tuple[str, str]]:
    import duckdb

    try:
        return [(st.query, st.type.name) for st in duckdb.extract_statements(sql)]
    except duckdb.Error as e:
        raise QueryError(str(e).strip()) from None


def _check_text(sql: str, nested: bool = False) -> tuple[str, int, int] | None:
    """Why ``sql`` is not read-only as (kind, statement index, statement count), or None."""
    m = _IMPORT_RE.search(sql)
    if m:
        return m.group(1).upper(), 1, 1
    bad, i, n, parsed = _sqlglot_check(sql)
    if bad:
        return bad, i, n
    statements = _duck_statements(sql)
    if nested and len(statements) != 1:
        return "MULTIPLE STATEMENTS", 1, len(statements)
    for i, (text, duck_type) in enumerate(statements, 1):
        kind: str | None
        if duck_type == "EXPLAIN":
            rest = _EXPLAIN_RE.sub("", text, count=1)
            inner = _check_text(rest, nested=True) if rest.strip() != text.strip() else ("EXPLAIN", 1, 1)
            kind = inner[0] if inner else None
        elif duck_type != "SELECT":
            kind = duck_type
        else:
            fn = None if parsed else _FUNC_RE.search(text)
            kind = f"{fn.group(1).lower()}()" if fn else None
        if kind:
            return kind, i, len(statements)
    return None


def ensure_read_only(sql: str) -> None:
    """Raise :class:`ReadOnlyViolation` unless every statement in ``sql`` is a read-only query."""
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    if not sql.strip():
        raise ReadOnlyViolation("no statement given")
    bad = _check_text(sql)
    if bad:
        raise _violation(*bad)
    if not _duck_statements(sql):
        raise ReadOnlyViolation("no statement given")


def _to_arrow(result: "duckdb.DuckDBPyConnection") -> "pa.Table":
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return fetch()


class QuerySession:
    """A DuckDB connection with the lakehouse views, locked against configuration changes."""

    def __init__(self, storage: Storage, *, lock: bool = True) -> None:
        from lakehouse import duck

        self.storage = storage
        self.con = duck.connect(storage.settings)
        try:
            self.views = create_views(self.con, storage)
        except Exception as e:   # S3 unreachable, bad credentials, unreadable table: one line, no traceback
            self.con.close()
            raise QueryError(f"cannot read the lakehouse at {storage.root}: {type(e).__name__}: {e}") from e
        if lock:
            self.con.execute("set lock_configuration = true")

    def __enter__(self) -> "QuerySession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def describe(self) -> dict[str, str]:
        return describe_views(self.views)

    def query(self, sql: str) -> "pa.Table":
        """Check and run ``sql``; the result of its last statement as an Arrow table."""
        ensure_read_only(sql)
        return self._run(sql)

    def internal(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run the library's own parameterized read (trace); rows as dicts."""
        ensure_read_only(sql)
        cur = self._execute(sql, params)
        cols = [d[0] for d in cur.description or []]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def columns(self, view: str) -> list[str]:
        """Column names of a view ([] when the view does not exist)."""
        if view not in self.views:
            return []
        return [r[0] for r in self.con.execute('describe "' + view.replace('"', '""') + '"').fetchall()]

    def _run(self, sql: str) -> "pa.Table":
        return _to_arrow(self._execute(sql))

    def _execute(self, sql: str, params: list[Any] | None = None) -> "duckdb.DuckDBPyConnection":
        import duckdb

        try:
            return self.con.execute(sql, params) if params else self.con.execute(sql)
        except duckdb.CatalogException as e:
            m = _MISSING_TABLE_RE.search(str(e))
            hint = missing_hint(m.group(1).strip('"')) if m else None
            available = ", ".join(self.views) or f"none under {self.storage.root}"
            if hint:
                raise MissingView(f"{hint} (available views: {available})") from None
            if m:
                raise QueryError(f"{str(e).strip()}\n(available views: {available})") from None
            raise QueryError(str(e).strip()) from None
        except duckdb.Error as e:
            raise QueryError(str(e).strip()) from None


def run_query(sql: str, storage: Storage) -> "pa.Table":
    """Run one read-only query (or several) over the lakehouse views; the last result."""
    ensure_read_only(sql)
    with QuerySession(storage) as session:
        return session.query(sql)


def write_attach_db(path: str | os.PathLike[str], storage: Storage) -> list[str]:
    """Write a DuckDB database file whose views read the lakehouse tables (absolute paths / s3 URIs).

    No credentials are stored in it: the client loads httpfs + delta and creates its own S3 secret.
    Returns the view names.
    """
    import duckdb

    from lakehouse import duck

    target = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.tmp-{os.getpid()}"
    for p in (tmp, tmp + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(tmp, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        duck.configure(con, storage.settings)
        views = create_views(con, storage)
        if not views:
            raise MissingView(f"nothing to attach under {storage.root}: land data first (`lakehouse land`) "
                              "and build the release (`dbt build --select release`)")
        con.execute("checkpoint")
    except BaseException:
        con.close()
        for p in (tmp, tmp + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        raise
    con.close()
    if os.path.exists(target + ".wal"):
        os.remove(target + ".wal")
    os.replace(tmp, target)
    return views


def attach_instructions(path: str | os.PathLike[str], storage: Storage) -> str:
    """How to open an ``--attach`` file from the DuckDB CLI and from Python."""
    from lakehouse import duck

    target = os.path.abspath(os.fspath(path))
    lines = [
        f"wrote {target}: views read {storage.root} directly (no data copied, no credentials stored)",
        "",
        "DuckDB CLI:",
        f"  duckdb -readonly {target}",
        f"  LOAD '{duck.extension_path('httpfs')}';",
        f"  LOAD '{duck.extension_path('delta')}';",
    ]
    if storage.is_s3:
        lines.append("  CREATE SECRET (TYPE S3, KEY_ID '...', SECRET '...', REGION '...', ENDPOINT 'host:port', "
                     "URL_STYLE 'path', USE_SSL true);")
    lines += [
        "  SELECT source_family, split, count(*) FROM conversations GROUP BY ALL;",
        "",
        "Python:",
        "  import duckdb; from lakehouse import duck; from lakehouse.config import Settings",
        f"  con = duckdb.connect({target!r}, read_only=True); duck.configure(con, Settings.from_env())",
    ]
    return "\n".join(lines)
