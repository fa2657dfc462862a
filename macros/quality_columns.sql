{% macro quality_score_columns() -%}
{#- The per-record score columns of lakehouse.quality.batch.QUALITY_SCHEMA, carried from
    int_records_classified to the release (one list for every model that passes them on). -#}
empathy, emotional_reactions, interpretations, explorations, coherence, reasoning_completeness,
    crisis_disclosure, crisis_categories, crisis_handling, harmful_response, toxic_assistant, preference_margin
{%- endmacro %}
