"""Arrow schemas of the raw and catalog Delta tables (one definition, used by landing and tests)."""

from __future__ import annotations

import pyarrow as pa

# what every landed row and every landing record share: where the bytes came from
_PROVENANCE = [
    pa.field("landing_id", pa.string(), nullable=False),
    pa.field("landed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("source_name", pa.string(), nullable=False),
    pa.field("source_family", pa.string(), nullable=False),
    pa.field("license_tag", pa.string()),
    pa.field("source_key", pa.string(), nullable=False),
    pa.field("file_sha256", pa.string(), nullable=False),
    pa.field("file_bytes", pa.int64(), nullable=False),
]

RAW_SCHEMA = pa.schema(
    _PROVENANCE
    + [
        pa.field("row_number", pa.int64(), nullable=False),
        pa.field("line_number", pa.int64()),
        pa.field("input_format", pa.string(), nullable=False),
        pa.field("shape", pa.string(), nullable=False),
        pa.field("shape_options", pa.string(), nullable=False),
        pa.field("is_edge_case", pa.bool_(), nullable=False),
        pa.field("record", pa.string()),
        pa.field("parse_error", pa.string()),
    ]
)

LANDINGS_SCHEMA = pa.schema(
    _PROVENANCE
    + [
        pa.field("rows_read", pa.int64(), nullable=False),
        pa.field("parse_errors", pa.int64(), nullable=False),
        pa.field("input_format", pa.string(), nullable=False),
        pa.field("shape", pa.string(), nullable=False),
        pa.field("shape_reason", pa.string()),
        pa.field("shape_options", pa.string(), nullable=False),
        pa.field("is_edge_case", pa.bool_(), nullable=False),
        pa.field("table_uri", pa.string(), nullable=False),
        pa.field("package_version", pa.string(), nullable=False),
        # reading repairs as JSON, e.g. {"invalid_utf8": 3, "utf16": 1} (null: recovered row, or older landing)
        pa.field("repairs", pa.string()),
    ]
)
