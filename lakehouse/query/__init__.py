"""Query and browse the lakehouse: read-only SQL views (`lakehouse sql`) and record traces (`lakehouse trace`)."""

from lakehouse.query.sql import QuerySession, ReadOnlyViolation, ensure_read_only, run_query, write_attach_db
from lakehouse.query.views import create_views

__all__ = ["QuerySession", "ReadOnlyViolation", "create_views", "ensure_read_only", "run_query", "write_attach_db"]
