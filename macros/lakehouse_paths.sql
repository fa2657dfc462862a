{% macro lakehouse_root() -%}
  {#- The resolved lakehouse root (local folder or s3://...), set by the lakehouse_dbt plugin. -#}
  {%- if execute -%}
    {%- set result = run_query("select getvariable('lakehouse_root')") -%}
    {%- set root = result.columns[0].values()[0] -%}
    {%- if not root -%}
      {{ exceptions.raise_compiler_error("lakehouse_root is not set: is the lakehouse_dbt plugin listed in profiles.yml?") }}
    {%- endif -%}
    {{ return(root) }}
  {%- else -%}
    {{ return('') }}
  {%- endif -%}
{%- endmacro %}


{% macro lakehouse_delta_tables(prefix) -%}
  {#- Delta table URIs directly under <root>/<prefix>/ (a folder holding _delta_log/). -#}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {%- set root = lakehouse_root() -%}
  {%- set sql -%}
    select distinct regexp_extract(file, '^(.*)/_delta_log/[^/]+$', 1) as table_uri
    from glob('{{ root }}/{{ prefix }}/*/_delta_log/*.json')
    order by 1
  {%- endset -%}
  {%- set result = run_query(sql) -%}
  {{ return(result.columns[0].values() | list) }}
{%- endmacro %}


{% macro lakehouse_delta_table_exists(key) -%}
  {%- if not execute -%}{{ return(false) }}{%- endif -%}
  {%- set root = lakehouse_root() -%}
  {%- set result = run_query("select count(*) from glob('" ~ root ~ "/" ~ key ~ "/_delta_log/*.json')") -%}
  {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}
