"""The per-record engine: pure batch functions over Arrow record batches, on all cores or on Ray,
with content-addressed result caches under the lakehouse root.

- :mod:`lakehouse.engine.runner`: ``map_batches`` runs ``fn(batch, **kwargs) -> batch`` (a pure
  function named ``"module:function"``) over a stream of record batches, in order, in spawned
  local processes (``LAKEHOUSE_ENGINE=local``, the default) or Ray tasks (``LAKEHOUSE_ENGINE=ray``);
- :mod:`lakehouse.engine.cache`: Delta tables ``cache/<stage>/`` keyed by (fingerprint, key) that
  hold spans, flags, scores and signatures -- never message text;
- :mod:`lakehouse.engine.stages`: the stages the build runs (PII analysis, redaction, scoring).

DuckDB and dbt keep the set work (joins, dedup decisions, splits, gates); this package only maps
rows to results.
"""

from lakehouse.engine.settings import EngineSettings, engine_settings
from lakehouse.engine.runner import map_batches, shutdown

__all__ = ["EngineSettings", "engine_settings", "map_batches", "shutdown"]
