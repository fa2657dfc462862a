{% test gate_pii(model, residual_model=none, residual_scan=true) %}
{#- Gate 4, PII: no released record needs human review, and (residual_scan) a final scan of the
    released, redacted text finds no entity above the threshold (release_pii_residual, computed on
    lakehouse/engine from cache/pii_spans). One failing row per record. -#}
select record_id, 'requires_review' as problem
from {{ model }}
where pii_status = 'requires_review'
{%- if residual_scan and residual_model is not none %}
union all
select record_id, 'residual_pii: ' || findings || ' finding(s)' as problem
from {{ residual_model }}
where findings > 0
{%- endif %}
{% endtest %}
