-- One row per landed file (catalog/landings): what was read, how it was detected.
-- depends_on: {{ source('lakehouse', 'landings') }}
{{ landings_catalog() }}
