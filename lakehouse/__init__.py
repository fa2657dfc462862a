"""lakehouse: compile mental-health conversation datasets into a versioned, auditable training release.

Raw files land as Delta tables (``lakehouse.landing``), dbt + DuckDB normalize and gate them
(``models/``, with UDF logic from ``lakehouse.udf``), and ``lakehouse.export`` publishes the release.
"""

from __future__ import annotations

__version__ = "0.1.0"
