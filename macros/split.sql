{% macro split_bucket(key_expr) -%}
    ('0x' || left(sha256('{{ var("split_seed") }}:' || {{ key_expr }}), 15))::ubigint % 10000
{%- endmacro %}

{% macro split_of(key_expr, holdout_expr) -%}
    {%- set train_cut = (var('split_train') | float * 10000) | int -%}
    {%- set val_cut = ((var('split_train') | float + var('split_val') | float) * 10000) | int -%}
    case
        when {{ holdout_expr }} then 'test'
        when {{ split_bucket(key_expr) }} < {{ train_cut }} then 'train'
        when {{ split_bucket(key_expr) }} < {{ val_cut }} then 'val'
        else 'test'
    end
{%- endmacro %}

{% macro split_key_column(hash_column='content_hash') -%}
    {#- The split key per the split_key var: the near-duplicate cluster, or the record's own hash
        (records not redacted, i.e. duplicates, only have dedup_hash). -#}
    {{ 'cluster_id' if var('split_key') == 'cluster' else hash_column }}
{%- endmacro %}

{% macro holdout_source_list() -%}
    {#- Sources held out for this release: the holdout_sources seed plus the holdout_sources var. -#}
    select source_name from {{ ref('holdout_sources') }}
    {%- for s in var('holdout_sources', []) %}
    union all select '{{ s }}'
    {%- endfor %}
{%- endmacro %}

{% macro holdout_bucket(key_expr) -%}
    {#- A second bucket from the same sha256('<seed>:<key>') as split_bucket, taken from hex digits
        16-30 so the hard-holdout pick is independent of the train/val/test bucket. -#}
    ('0x' || substr(sha256('{{ var("split_seed") }}:' || {{ key_expr }}), 16, 15))::ubigint % 10000
{%- endmacro %}

{% macro holdout_pick(key_expr, share_expr) -%}
    {#- True for the share_expr (0-1) of keys held out in test only (registry holdout_share). -#}
    ({{ holdout_bucket(key_expr) }} < round(({{ share_expr }}) * 10000))
{%- endmacro %}
