"""Read-only SQL over the lakehouse: statement checks, a DuckDB sandbox, ``--attach`` files.

Two layers keep ``lakehouse sql`` read-only and inside the lakehouse:

1. Statement checks, before anything runs: sqlglot (statement kind and every node) and DuckDB's
   own parser (statement type; ``json_serialize_sql`` gives every function and table reference with
   its name normalized, so ``"query"(...)`` and ``"DuckDB_Secrets"()`` are the same as the bare
   names). Only queries pass; table functions must be on an allow-list (no file readers, no
   ``query()``, no ``delta_*`` writers), and a few scalar functions are refused.
2. The engine's own controls, set before ``lock_configuration``: ``enable_external_access=false``
   with ``allowed_directories`` limited to the prefixes the views read (``curated/``, ``catalog/``,
   ``exports/releases/``; ``raw/`` and ``quarantine/`` only with ``allow_raw``), unused filesystems
   disabled (HTTP, Hugging Face, and S3 for a local root), Python replacement scans off, extension
   auto-install/auto-load off, a private temp directory.

Original text (``raw_*`` views, the text columns of ``quarantine``) needs ``allow_raw``; each
statement that reads it is recorded in the raw-access audit log (who, when, which views; no text).
Without it, ``quarantine`` is a table of its ids, reason codes, provenance and counts only.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from lakehouse.query.views import RAW_VIEW_PREFIX, RESTRICTED_COLUMNS, create_views, describe_views, missing_hint, sql_str
from lakehouse.storage import CATALOG_PREFIX, CURATED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX, RELEASES_PREFIX, Storage, describe_error

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# functions that expose credentials or run SQL text the checks cannot see
FORBIDDEN_FUNCTIONS = frozenset({"duckdb_secrets", "which_secret", "query", "query_table", "duckdb_settings_unredacted",
                                 "json_execute_serialized_sql", "getenv", "current_setting"})
# table functions a query may call (anything else, e.g. read_text, glob, delta_scan, query, is refused):
# generators and introspection only; the lakehouse data is reached through the views
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree", "summary",
    "duckdb_columns", "duckdb_tables", "duckdb_views", "duckdb_functions", "duckdb_types", "duckdb_keywords",
    "duckdb_schemas", "duckdb_databases", "duckdb_constraints", "pragma_table_info", "pragma_show", "pragma_version",
    "test_all_types", "icu_calendar_names", "pg_timezone_names",
})
_EXPLAIN_RE = re.compile(r"^\s*explain\s+(analyze\s+)?", re.IGNORECASE)
_FUNC_RE = re.compile(r"\b(" + "|".join(sorted(FORBIDDEN_FUNCTIONS)) + r")\s*\(", re.IGNORECASE)
# DuckDB's parser reads the files named by IMPORT DATABASE: refuse it before parsing
_IMPORT_RE = re.compile(r"(?:^|;)\s*(import|export)\s+database\b", re.IGNORECASE | re.MULTILINE)
_FILE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".txt", ".gz", ".duckdb", ".db", ".zst")
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


@functools.lru_cache(maxsize=1)
def _parser() -> "duckdb.DuckDBPyConnection":
    """A bare connection used only for DuckDB's parser (``json_serialize_sql``): no data, no extensions."""
    import duckdb

    return duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                              "autoload_known_extensions": False, "enable_external_access": False})


def _walk_refs(node: Any, functions: list[tuple[str, str]], tables: set[str]) -> None:
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            functions.append(("table", str(node["function"].get("function_name", "")).lower()))
        elif node.get("class") == "FUNCTION" and "function_name" in node:
            functions.append(("scalar", str(node["function_name"]).lower()))
        if kind == "BASE_TABLE" and node.get("table_name"):
            tables.add(str(node["table_name"]).lower())
        if kind == "SHOW_REF" and node.get("table_name"):
            tables.add(str(node["table_name"]).strip('"').lower())
        for v in node.values():
            _walk_refs(v, functions, tables)
    elif isinstance(node, list):
        for v in node:
            _walk_refs(v, functions, tables)


def statement_refs(statement: str) -> tuple[list[tuple[str, str]], set[str]]:
    """(functions as (table|scalar, name), referenced table/view names) of one statement, from
    DuckDB's own parser (names unquoted and lower-cased). EXPLAIN is looked through; a statement
    DuckDB cannot serialize (not a plain query) raises :class:`ReadOnlyViolation`."""
    text = statement
    while True:
        m = _EXPLAIN_RE.match(text)
        if not m:
            break
        text = text[m.end():]
    out = _parser().execute("select json_serialize_sql(?)", [text]).fetchone()[0]
    tree = json.loads(out)
    if tree.get("error"):
        raise ReadOnlyViolation(f"statement form not allowed in the sandbox: {tree.get('error_message', 'unsupported')}")
    functions: list[tuple[str, str]] = []
    tables: set[str] = set()
    _walk_refs(tree.get("statements", []), functions, tables)
    return functions, tables


def _check_functions(sql: str) -> tuple[str, int, int] | None:
    statements = _duck_statements(sql)
    for i, (text, _) in enumerate(statements, 1):
        functions, tables = statement_refs(text)
        for t in tables:
            if "/" in t or "\\" in t or "://" in t or t.endswith(_FILE_SUFFIXES):
                return f"a file ({t!r}) read as a table: replacement scan", i, len(statements)
        for kind, name in functions:
            if name in FORBIDDEN_FUNCTIONS or (kind == "table" and name not in ALLOWED_TABLE_FUNCTIONS):
                return f"{name}()", i, len(statements)
    return None


def referenced_tables(sql: str) -> set[str]:
    """Every table or view name the statements of ``sql`` reference (per DuckDB's parser)."""
    out: set[str] = set()
    for text, _ in _duck_statements(sql):
        out |= statement_refs(text)[1]
    return out


def ensure_read_only(sql: str) -> None:
    """Raise :class:`ReadOnlyViolation` unless every statement in ``sql`` is a read-only query that
    calls no refused function."""
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    if not sql.strip():
        raise ReadOnlyViolation("no statement given")
    bad = _check_text(sql)
    if bad:
        raise _violation(*bad)
    if not _duck_statements(sql):
        raise ReadOnlyViolation("no statement given")
    bad = _check_functions(sql)
    if bad:
        name, i, n = bad
        where = f" (statement {i} of {n})" if n > 1 else ""
        if not name.endswith("()"):
            raise ReadOnlyViolation(f"{name} is not allowed in lakehouse sql{where}: query the views")
        raise ReadOnlyViolation(f"function {name} is not allowed in lakehouse sql{where}: query the views "
                                "(`.tables` lists them)")


def _to_arrow(result: "duckdb.DuckDBPyConnection") -> "pa.Table":
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return fetch()


class QuerySession:
    """A sandboxed DuckDB connection with the lakehouse views (see the module docstring).

    ``allow_raw`` adds the ``raw_*`` views and the text columns of ``quarantine``; every statement
    that reads them is written to the raw-access audit log first (refused if it cannot be).
    ``lock=False`` is for tests only.
    """

    def __init__(self, storage: Storage, *, lock: bool = True, allow_raw: bool = False,
                 audit: bool = True) -> None:
        import duckdb

        from lakehouse import duck

        self.storage = storage
        self.allow_raw = allow_raw
        self.audit = audit and allow_raw
        self._tmp = tempfile.mkdtemp(prefix="lakehouse-sql-")     # private spill folder (0700)
        self.con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                      "autoload_known_extensions": False})
        try:
            duck.configure(self.con, storage.settings)
            self.views = create_views(self.con, storage, allow_raw=allow_raw)
        except Exception as e:   # S3 unreachable, bad credentials, unreadable table: one line, no traceback
            self.close()
            raise QueryError(f"cannot read the lakehouse at {storage.root}: "
                             f"{describe_error(e, storage.settings)}") from e
        sandbox(self.con, storage, allow_raw=allow_raw, temp_dir=self._tmp, lock=lock)

    def __enter__(self) -> "QuerySession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def describe(self) -> dict[str, str]:
        return describe_views(self.views)

    def query(self, sql: str) -> "pa.Table":
        """Check and run ``sql``; the result of its last statement as an Arrow table."""
        ensure_read_only(sql)
        if self.audit:
            gated = sorted(t for t in referenced_tables(sql) if is_gated_view(t) and t in self.views)
            if gated:
                record_raw_access(self.storage, gated)
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
            name = m.group(1).strip('"') if m else ""
            hint = missing_hint(name) if m else None
            available = ", ".join(self.views) or f"none under {self.storage.root}"
            if m and is_gated_view(name) and not self.allow_raw and name.lower().startswith(RAW_VIEW_PREFIX):
                raise MissingView(f"{name} holds original (unredacted) text: run with --allow-raw "
                                  "(its use is logged)") from None
            if hint:
                raise MissingView(f"{hint} (available views: {available})") from None
            if m:
                raise QueryError(f"{str(e).strip()}\n(available views: {available})") from None
            raise QueryError(str(e).strip()) from None
        except duckdb.BinderException as e:
            msg = str(e).strip()
            hidden = {c for cols in RESTRICTED_COLUMNS.values() for c in cols}
            if not self.allow_raw and any(f'"{c}"' in msg for c in hidden):
                raise QueryError(f"{msg}\n(original text and file names (quarantine.raw_record, quarantine_reason, "
                                 "source_key of quarantine and landings) need --allow-raw; its use is logged)") from None
            raise QueryError(msg) from None
        except duckdb.Error as e:
            raise QueryError(str(e).strip()) from None


def allowed_prefixes(storage: Storage, *, allow_raw: bool) -> list[str]:
    """The folders (local paths or s3:// prefixes, ending in '/') the sandbox may read."""
    keys = [CURATED_PREFIX, CATALOG_PREFIX, RELEASES_PREFIX]
    if allow_raw:
        keys += [RAW_PREFIX, QUARANTINE_PREFIX]
    return [storage.uri(k).rstrip("/") + "/" for k in keys]


def sandbox(con: "duckdb.DuckDBPyConnection", storage: Storage, *, allow_raw: bool, temp_dir: str,
            lock: bool = True) -> None:
    """Confine a connection to the lakehouse prefixes with DuckDB's own settings, then lock them."""
    def lst(values: list[str]) -> str:
        return "[" + ", ".join(sql_str(v) for v in values) + "]"

    disabled = ["HTTPFileSystem", "HuggingFaceFileSystem"] + ([] if storage.is_s3 else ["S3FileSystem"])
    for stmt in (
        f"set temp_directory = {sql_str(temp_dir)}",
        f"set allowed_directories = {lst(allowed_prefixes(storage, allow_raw=allow_raw) + [temp_dir.rstrip('/') + '/'])}",
        "set allowed_paths = []",
        f"set disabled_filesystems = {sql_str(','.join(disabled))}",
        "set python_enable_replacements = false",
        "set allow_community_extensions = false",
        "set autoinstall_known_extensions = false",
        "set autoload_known_extensions = false",
        "set enable_external_access = false",
    ):
        con.execute(stmt)
    if lock:
        con.execute("set lock_configuration = true")


def is_gated_view(name: str) -> bool:
    """Views that expose original text with ``--allow-raw``."""
    n = name.lower()
    return n.startswith(RAW_VIEW_PREFIX) or n in RESTRICTED_COLUMNS


def audit_log_location(storage: Storage) -> str:
    """Where raw-access records go: LAKEHOUSE_AUDIT_LOG, else ``<root>/audit/raw_access/`` (local: one
    JSON Lines file, owner-only; S3: one object per record)."""
    env = os.environ.get("LAKEHOUSE_AUDIT_LOG")
    if env:
        return env
    return storage.uri("audit", "raw_access.jsonl") if not storage.is_s3 else storage.uri("audit", "raw_access")


def record_raw_access(storage: Storage, views: list[str]) -> dict[str, Any]:
    """Append who/when/which views to the raw-access audit log (never the statement or any text).

    Raises :class:`QueryError` when the record cannot be written: raw access is refused then."""
    import getpass
    import socket
    import uuid
    from datetime import datetime, timezone

    try:
        who = getpass.getuser()
    except Exception:   # no user name in the environment (containers)
        who = f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    rec = {"at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "user": who,
           "host": socket.gethostname(), "pid": os.getpid(), "root": storage.root, "views": views,
           "event": "raw_access"}
    line = (json.dumps(rec, sort_keys=True) + "\n").encode()
    where = audit_log_location(storage)
    try:
        if where.startswith("s3://"):
            storage.write_bytes(f"{where.rstrip('/')}/{rec['at'][:10]}/{rec['at']}-{uuid.uuid4().hex[:8]}.json", line)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(where)), mode=0o700, exist_ok=True)
            fd = os.open(where, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
    except Exception as e:
        raise QueryError(f"cannot write the raw-access audit record to {where}: {type(e).__name__}: {e}; "
                         "raw access refused") from None
    logging.getLogger("lakehouse.audit").info("raw access by %s: %s", who, ", ".join(views))
    return rec


def run_query(sql: str, storage: Storage, *, allow_raw: bool = False) -> "pa.Table":
    """Run one read-only query (or several) over the lakehouse views; the last result."""
    ensure_read_only(sql)
    with QuerySession(storage, allow_raw=allow_raw) as session:
        return session.query(sql)


def write_attach_db(path: str | os.PathLike[str], storage: Storage, *, allow_raw: bool = False) -> list[str]:
    """Write a DuckDB database file whose views read the lakehouse tables (absolute paths / s3 URIs).

    No credentials are stored in it: the client loads httpfs + delta and creates its own S3 secret.
    Without ``allow_raw`` it has no ``raw_*`` views and no quarantine text columns. Returns the view names.
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
        views = create_views(con, storage, allow_raw=allow_raw, materialize_restricted=False)
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
