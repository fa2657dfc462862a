"""dbt-duckdb plugin: prepares every dbt connection to read the lakehouse and run the library's UDFs.

- loads the httpfs and delta extensions from the pinned wheels (by file path, nothing downloaded)
- creates the S3 secret from AWS_* / OVH_S3_* settings
- registers the ``lh_*`` UDFs from ``lakehouse.udf``
- exposes the resolved lakehouse root as the DuckDB variable ``lakehouse_root`` (read by macros)
- ``store``: writes the curated Delta tables of the ``external`` models in models/release/marts/curated/

UDFs exist only on dbt's connection: models that call them are tables, never views.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from dbt.adapters.duckdb.plugins import BasePlugin

from lakehouse import duck
from lakehouse.config import Settings
from lakehouse.udf import register_all


def _set_root(conn: Any, root: str) -> None:
    conn.execute("SET VARIABLE lakehouse_root = '" + root.replace("'", "''") + "'")


class Plugin(BasePlugin):
    def initialize(self, plugin_config: Dict[str, Any]) -> None:
        self.settings = Settings.from_env(root=plugin_config.get("root"))
        # PII analysis (the dominant cost) fans out over all cores unless the user says otherwise
        os.environ.setdefault("LAKEHOUSE_PII_WORKERS", str(plugin_config.get("pii_workers", "auto")))

    def configure_connection(self, conn: Any) -> None:
        duck.configure(conn, self.settings)
        register_all(conn)
        _set_root(conn, self.settings.root)

    def configure_cursor(self, cursor: Any) -> None:
        _set_root(cursor, self.settings.root)

    def store(self, target_config: Any) -> None:
        """``external`` models with ``plugin='lakehouse_dbt'`` (models/release/marts/curated/): the
        staged Parquet file becomes the Delta table ``delta_key`` under the root, then is removed
        (lakehouse/export/curated.py). In this process: deltalake must not run after a fork."""
        from lakehouse.export.curated import store_staged
        from lakehouse.storage import Storage

        if target_config.location is None or target_config.location.format != "parquet":
            raise ValueError(f"{target_config.relation}: the lakehouse_dbt plugin stores parquet-staged external models")
        store_staged(Storage(self.settings), target_config.location.path, target_config.config.get("delta_key"))
