{#- The curated Delta tables (models/release/marts/curated/): dbt-duckdb `external` models whose
    `store` (python/lakehouse_dbt.py -> lakehouse/export/curated.py) streams the staged Parquet file
    into the Delta table `delta_key` under the lakehouse root, then removes the file. -#}

{% macro curated_staging_location() -%}
  {#- The staged file lives beside the build DuckDB file, never under the lakehouse root: the
      quarantine model holds original (unredacted) text, like the build database itself
      (`lakehouse build` keeps both in a private temp folder, removed after the build). -#}
  {%- set db = target.path | string -%}
  {%- if db in ('', ':memory:') or '://' in db or db.startswith('md:') -%}
    {{ exceptions.raise_compiler_error("curated models stage their rows beside the build DuckDB file: set LAKEHOUSE_DUCKDB_PATH to a local file (got " ~ db ~ ")") }}
  {%- endif -%}
  {%- set folder = db.rsplit('/', 1)[0] if '/' in db else '.' -%}
  {{- folder }}/.{{ this.identifier }}.staged.parquet
{%- endmacro %}


{% macro curated_delta_view() -%}
  {#- A post-hook (transaction: false) run after `store`: the model's view then reads the Delta
      table it wrote (the staged file is gone). dbt-duckdb runs such hooks inside the transaction
      its store step opened and rolls it back at the end of the node, so this macro runs the
      statement and commits itself, and leaves the hook empty. -#}
  {%- if execute -%}
    {%- call statement('curated_delta_view', auto_begin=True) -%}
      create or replace view {{ this }} as
      select * from delta_scan('{{ lakehouse_root() }}/{{ config.get("delta_key") }}')
    {%- endcall -%}
    {%- do adapter.commit() -%}
  {%- endif -%}
{%- endmacro %}


{% macro curated_after_release() -%}
  {#- Fail closed: a curated table is rewritten only after every release gate (the tests on
      release_conversations and the models they read) passed and the release was published or found
      unchanged; a failing gate, or a release refused as immutable, leaves the previous tables. -#}
  -- depends_on: {{ ref('release_conversations') }} {{ ref('release_pii_residual') }} {{ ref('release_stats') }}
  -- depends_on: {{ ref('dataset_registry') }} {{ ref('release_export') }}
{%- endmacro %}


{% macro curated_select(relation) -%}
  {#- Every column of the mart. HUGEINT (sums) has no Parquet type, so DuckDB would stage it as
      DOUBLE: it is cast to DECIMAL(38,0), the type DuckDB's Arrow export gives it, so the Delta
      table keeps exact counts. -#}
  {%- if execute -%}
    select
    {%- for c in adapter.get_columns_in_relation(relation) %}
      {% if c.dtype | upper in ('HUGEINT', 'UHUGEINT') -%}
        cast({{ adapter.quote(c.column) }} as decimal(38, 0)) as {{ adapter.quote(c.column) }}
      {%- else -%}
        {{ adapter.quote(c.column) }}
      {%- endif %}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ relation }}
  {%- else -%}
    select * from {{ relation }}
  {%- endif -%}
{%- endmacro %}
