-- One row per landed file (catalog/landings): what was read, how it was detected.
-- depends_on: {{ source('lakehouse', 'landings') }}
with catalog as (
{{ landings_catalog() }}
)

-- one row per landed file: a row recovered after an interrupted landing (lakehouse/landing/land.py
-- repair_catalog) gives way to the landing's own row if a race left both
select * replace ({{ relative_source_key('source_key') }} as source_key)
from catalog
qualify row_number() over (
    partition by source_name, file_sha256
    order by coalesce(shape_reason like 'recovered from raw/%', false), landed_at, landing_id
) = 1
