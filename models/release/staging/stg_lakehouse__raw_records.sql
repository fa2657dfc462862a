-- One row per landed raw row, across every raw/<source> Delta table (see macros/raw_union.sql).
-- depends_on: {{ source('lakehouse', 'raw_records') }}
{#- `lakehouse docs` documents each landed raw table as a source and passes their names here, so
    the lineage graph starts at every raw/<source> (a plain build needs none of it). #}
{%- for name in var('landed_sources', []) %}
-- depends_on: {{ source('landed', name) }}
{%- endfor %}
with raw as (
{{ raw_records_union() }}
)

-- source_key relative to what was landed (older landings recorded host paths: see the macro);
-- parse_error_code names the format of an unparseable row (invalid_csv / invalid_json)
select
    * replace ({{ relative_source_key('source_key') }} as source_key),
    {{ parse_error_code('parse_error', 'input_format') }} as parse_error_code
from raw
