"""DuckDB UDFs: vectorized Arrow adapters over the library's pure functions.

``register_all(con)`` is what the dbt-duckdb plugin (python/lakehouse_dbt.py) calls in
``configure_connection``. Models that call these functions are materialized as tables, never as
views, because other DuckDB clients don't have the functions.
"""

from lakehouse.udf.registry import UDFS, register_all

__all__ = ["UDFS", "register_all"]
