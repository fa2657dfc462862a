"""DuckDB connections that read the lakehouse: httpfs + delta loaded by file path, S3 secret set.

The extension binaries come from the ``duckdb-extension-httpfs`` / ``duckdb-extension-delta``
wheels (pinned with duckdb), so nothing is downloaded at run time.
"""

from __future__ import annotations

import glob
import importlib
import os
from typing import TYPE_CHECKING

from lakehouse.config import Settings

if TYPE_CHECKING:
    import duckdb

_EXTENSION_MODULES = {"httpfs": "duckdb_extension_httpfs", "delta": "duckdb_extension_delta"}


class ExtensionMissing(RuntimeError):
    pass


def extension_path(name: str) -> str:
    """File path of a bundled DuckDB extension binary matching the installed duckdb."""
    import duckdb

    mod = importlib.import_module(_EXTENSION_MODULES[name])
    base = os.path.join(os.path.dirname(mod.__file__ or ""), "extensions")
    version = duckdb.__version__
    exact = glob.glob(os.path.join(base, f"v{version}", f"{name}.duckdb_extension"))
    if exact:
        return exact[0]
    found = glob.glob(os.path.join(base, "*", f"{name}.duckdb_extension"))
    raise ExtensionMissing(
        f"no {name} extension for duckdb {version} (found {found or 'none'}); "
        f"install {_EXTENSION_MODULES[name].replace('_', '-')}=={version}"
    )


def load_extensions(con: "duckdb.DuckDBPyConnection") -> None:
    loaded = {r[0] for r in con.execute("select extension_name from duckdb_extensions() where loaded").fetchall()}
    for name in ("httpfs", "delta"):
        if name not in loaded:
            con.execute(f"LOAD '{extension_path(name)}'")


def _sql_str(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def s3_secret_sql(settings: Settings, name: str = "lakehouse_s3") -> str | None:
    """``CREATE SECRET`` for the configured S3 endpoint (None if no credentials are set)."""
    s = settings.s3
    if not (s.access_key_id and s.secret_access_key) and not s.endpoint_url:
        return None
    parts = ["TYPE S3", f"REGION {_sql_str(s.region)}", "URL_STYLE 'path'"]
    if s.access_key_id:
        parts.append(f"KEY_ID {_sql_str(s.access_key_id)}")
    if s.secret_access_key:
        parts.append(f"SECRET {_sql_str(s.secret_access_key)}")
    if s.session_token:
        parts.append(f"SESSION_TOKEN {_sql_str(s.session_token)}")
    if s.endpoint_url:
        endpoint = s.endpoint_url.split("://", 1)[-1].rstrip("/")
        parts.append(f"ENDPOINT {_sql_str(endpoint)}")
        parts.append(f"USE_SSL {'false' if s.allow_http else 'true'}")
    return f"CREATE OR REPLACE SECRET {name} ({', '.join(parts)})"


def configure(con: "duckdb.DuckDBPyConnection", settings: Settings) -> None:
    """Load extensions and register S3 credentials on an existing connection."""
    load_extensions(con)
    sql = s3_secret_sql(settings)
    if sql:
        con.execute(sql)


def connect(settings: Settings | None = None, database: str = ":memory:", read_only: bool = False) -> "duckdb.DuckDBPyConnection":
    import duckdb

    settings = settings or Settings.from_env()
    con = duckdb.connect(database, read_only=read_only, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    configure(con, settings)
    return con
