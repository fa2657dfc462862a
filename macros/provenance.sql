{% macro provenance_columns(relation_alias=none) -%}
    {#- The provenance every record carries from landing to release (docs/release-format.md). -#}
    {%- set p = (relation_alias ~ '.') if relation_alias else '' -%}
    {{ p }}source_name,
    {{ p }}source_family,
    {{ p }}license_tag,
    {{ p }}source_key,
    {{ p }}file_sha256,
    {{ p }}row_number,
    {{ p }}landing_id,
    {{ p }}landed_at
{%- endmacro %}

{% macro survivor_order() -%}
    {#- Which copy survives a dedup: registry priority (lower wins), earliest landing, then position. -#}
    family_priority, landed_at, source_name, source_key, row_number, sub_index
{%- endmacro %}
