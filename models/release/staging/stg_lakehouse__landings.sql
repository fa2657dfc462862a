-- One row per landed file (catalog/landings): what was read, how it was detected.
-- depends_on: {{ source('lakehouse', 'landings') }}
with catalog as (
{{ landings_catalog() }}
)

select * replace ({{ relative_source_key('source_key') }} as source_key)
from catalog
