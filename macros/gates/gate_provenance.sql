{% test gate_provenance(model, columns) %}
{#- Gate 5, provenance: every released record has every provenance column set.
    One failing row per record and missing column. -#}
{%- for c in columns %}
select record_id, '{{ c }}' as missing
from {{ model }}
where {{ c }} is null or trim({{ c }}::varchar) = ''
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
