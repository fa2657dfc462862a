{% test gate_pii(model, residual_scan=true) %}
{#- Gate 4, PII: no released record needs human review, and (residual_scan) a final scan of the
    released, redacted text finds no entity above the threshold (lh_pii_residual ->
    lakehouse/privacy). One failing row per record. -#}
select record_id, 'requires_review' as problem
from {{ model }}
where pii_status = 'requires_review'
{%- if residual_scan %}
union all
select record_id, 'residual_pii: ' || findings || ' finding(s)' as problem
from (
    select record_id, lh_pii_residual(kind, messages, prompt, chosen, rejected, text) as findings
    from {{ model }}
)
where findings > 0
{%- endif %}
{% endtest %}
