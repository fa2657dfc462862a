{% macro quality_quarantine_reason(s='', r='', crisis_handling_min=0.5) %}
{#- The quality/safety quarantine reason of a record, or null: the SQL form of
    lakehouse.quality.policy.quarantine_reason (tests/test_quality_policy.py checks they agree).
    `s` prefixes the record's columns (kind, label, is_training_edge_case and the score columns of
    lakehouse.quality.batch.QUALITY_SCHEMA), `r` the family's registry columns (min_empathy,
    min_coherence, min_reasoning_completeness, min_preference_margin, min_crisis_handling), e.g.
    quality_quarantine_reason('c.', 'reg.'). Crisis language alone never quarantines; edge cases
    bypass the safety rules but keep the family's thresholds (the registry gives them coherence
    only); KTO rows labelled undesirable (label = false) are exempt from both. -#}
case
    when coalesce({{ s }}label, true) and not {{ s }}is_training_edge_case and {{ s }}harmful_response
        then 'safety:harmful_response'
    when coalesce({{ s }}label, true) and not {{ s }}is_training_edge_case and {{ s }}crisis_disclosure
         and {{ s }}crisis_handling < coalesce({{ r }}min_crisis_handling, {{ crisis_handling_min }})
        then 'safety:crisis_unhandled ' || cast(round({{ s }}crisis_handling, 3) as varchar) || ' < '
             || cast(round(coalesce({{ r }}min_crisis_handling, {{ crisis_handling_min }}), 3) as varchar)
             || ' (' || array_to_string({{ s }}crisis_categories, ',') || ')'
    when coalesce({{ s }}label, true) and not {{ s }}is_training_edge_case and {{ s }}toxic_assistant
        then 'safety:toxic_assistant'
{%- for score in ['empathy', 'coherence', 'reasoning_completeness', 'preference_margin'] %}
    when coalesce({{ s }}label, true) and {{ s }}kind in ({% if score == 'preference_margin' %}'preference'{% else %}'sft', 'preference'{% endif %})
         and {{ r }}min_{{ score }} is not null
         and ({{ s }}{{ score }} is null or {{ s }}{{ score }} < {{ r }}min_{{ score }})
        then 'quality:{{ score }} ' || coalesce(cast(round({{ s }}{{ score }}, 3) as varchar) || ' < '
             || cast(round({{ r }}min_{{ score }}, 3) as varchar), 'missing')
{%- endfor %}
end
{% endmacro %}

{% macro bias_quarantine_reason(s='', r='') %}
{#- The stage-1 bias limit: `quality:bias <bias_score> > <max_bias_score> (<flagged groups>)`, or null.
    `s` prefixes the record's columns (label, is_training_edge_case, bias_score, stereotype_flags of
    int_record_bias), `r` the family's registry column max_bias_score (empty: no limit). A missing
    bias_score under a limit is `quality:bias missing`. Edge cases bypass it; KTO rows labelled
    undesirable (label = false) are exempt, as from the other quality thresholds. -#}
case
    when coalesce({{ s }}label, true) and not {{ s }}is_training_edge_case and {{ r }}max_bias_score is not null
         and ({{ s }}bias_score is null or {{ s }}bias_score > {{ r }}max_bias_score)
        then 'quality:bias ' || coalesce(cast(round({{ s }}bias_score, 3) as varchar) || ' > '
             || cast(round({{ r }}max_bias_score, 3) as varchar)
             || ' (' || array_to_string(coalesce({{ s }}stereotype_flags, []::varchar[]), ',') || ')', 'missing')
end
{% endmacro %}

{% test gate_quality(model, registry, family_column='source_family') %}
{#- Gate, clinical quality: no released non-edge record lacks its scores (crisis_disclosure is
    null when a record was never scored) or falls below its family's registry thresholds / the
    safety rules (quality_quarantine_reason), or exceeds its family's bias limit
    (bias_quarantine_reason). Edge-case records are checked only against the
    thresholds their family sets. Records a clinician released (review_release_decision_id) are
    exempt: the review overrides quality and safety reasons. One failing row per record. -#}
select m.record_id,
       case when m.crisis_disclosure is null then 'quality: not scored'
            else coalesce({{ quality_quarantine_reason('m.', 'r.') }}, {{ bias_quarantine_reason('m.', 'r.') }}) end as problem
from {{ model }} as m
left join {{ registry }} as r on r.family = m.{{ family_column }}
where (m.crisis_disclosure is null
       or {{ quality_quarantine_reason('m.', 'r.') }} is not null
       or {{ bias_quarantine_reason('m.', 'r.') }} is not null)
  -- a clinician released it over its quality/safety reason (int_records_classified)
  and m.review_release_decision_id is null
{% endtest %}
