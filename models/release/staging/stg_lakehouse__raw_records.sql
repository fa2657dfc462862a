-- One row per landed raw row, across every raw/<source> Delta table (see macros/raw_union.sql).
-- depends_on: {{ source('lakehouse', 'raw_records') }}
{{ raw_records_union() }}
