{% macro raw_records_union() -%}
  {#- Every landed row of every raw/<source> Delta table, with the raw schema of
      lakehouse/landing/schema.py. An empty lakehouse gives an empty, typed relation. -#}
  {%- set tables = lakehouse_delta_tables('raw') -%}
  {%- if tables | length == 0 %}
    select
      null::varchar as landing_id, null::timestamptz as landed_at, null::varchar as source_name,
      null::varchar as source_family, null::varchar as license_tag, null::varchar as source_key,
      null::varchar as file_sha256, null::bigint as file_bytes, null::bigint as row_number,
      null::bigint as line_number, null::varchar as input_format, null::varchar as shape,
      null::varchar as shape_options, null::boolean as is_edge_case, null::varchar as record,
      null::varchar as parse_error
    where false
  {%- else -%}
    {%- for t in tables %}
    select
      landing_id, landed_at, source_name, source_family, license_tag, source_key, file_sha256,
      file_bytes, row_number, line_number, input_format, shape, shape_options, is_edge_case,
      record, parse_error
    from delta_scan('{{ t }}')
    {% if not loop.last %}union all{% endif %}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}


{% macro landings_catalog() -%}
  {%- if lakehouse_delta_table_exists('catalog/landings') %}
    select * from delta_scan('{{ lakehouse_root() }}/catalog/landings')
  {%- else %}
    select
      null::varchar as landing_id, null::timestamptz as landed_at, null::varchar as source_name,
      null::varchar as source_family, null::varchar as license_tag, null::varchar as source_key,
      null::varchar as file_sha256, null::bigint as file_bytes, null::bigint as rows_read,
      null::bigint as parse_errors, null::varchar as input_format, null::varchar as shape,
      null::varchar as shape_reason, null::varchar as shape_options, null::boolean as is_edge_case,
      null::varchar as table_uri, null::varchar as package_version, null::varchar as repairs
    where false
  {%- endif -%}
{%- endmacro %}


{% macro relative_source_key(column) -%}
  {#- The relative form of a source_key (what the release and curated tables carry): keys landed
      by older versions were absolute host paths or s3:// URIs; they become the S3 key or the file
      name. Relative keys pass unchanged. Same rule as lakehouse.landing.land.relative_source_key. -#}
  case
    when {{ column }} like 's3://%' then regexp_replace({{ column }}, '^s3://[^/]+/', '')
    when {{ column }} like '/%' or regexp_matches({{ column }}, '^([A-Za-z]:[\\/]|\\\\)')
      then regexp_extract(rtrim({{ column }}, '/\'), '[^/\\]+$')
    else {{ column }}
  end
{%- endmacro %}


{% macro parse_error_code(parse_error, input_format) -%}
  {#- Quarantine reason of an unparseable raw row, named after its format
      (lakehouse.landing.land.parse_error_code). -#}
  case
    when {{ parse_error }} is null then null
    when {{ input_format }} = 'csv' then 'invalid_csv'
    else 'invalid_json'
  end
{%- endmacro %}
