{% test gate_leakage(model, keys=['content_hash', 'cluster_id']) %}
{#- Gate 2, leakage: no exact duplicate (same content_hash) and no near-duplicate cluster in more
    than one split. One failing row per leaking key. -#}
{%- for k in keys %}
select '{{ k }}' as key_kind, {{ k }} as key_value, count(distinct split) as splits
from {{ model }}
group by {{ k }}
having count(distinct split) > 1
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
