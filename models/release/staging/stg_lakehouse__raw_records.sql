-- One row per landed raw row, across every raw/<source> Delta table (see macros/raw_union.sql).
-- depends_on: {{ source('lakehouse', 'raw_records') }}
{#- `lakehouse docs` documents each landed raw table as a source and passes their names here, so
    the lineage graph starts at every raw/<source> (a plain build needs none of it). #}
{%- for name in var('landed_sources', []) %}
-- depends_on: {{ source('landed', name) }}
{%- endfor %}
{{ raw_records_union() }}
