-- Release decision per record: the policy reasons of int_records_policy first, then the safety
-- and quality decision from the scores (int_record_scores, lakehouse/quality) and the family's
-- registry thresholds (macro quality_quarantine_reason, macros/gates/gate_quality.sql): a harmful
-- reply, a crisis disclosure the reply does not handle, or a toxic assistant turn quarantines a
-- non-edge record; crisis language in client turns never does by itself; a score under the
-- family's threshold quarantines with reason quality:<score> and its value. The stage-1 bias limit
-- (int_record_bias, lakehouse/review/bias; registry max_bias_score, macro bias_quarantine_reason)
-- quarantines a non-edge record whose model turns stereotype a group: quality:bias and its value.
-- Clinician review (int_review_verdicts) comes last: a fail or escalate verdict quarantines
-- (clinical_review, with the decision id); a `release` verdict lifts quality, safety and
-- clinical-review reasons only, never license, provenance or conversion failures (and PII
-- requires_review is decided after this, at redaction, so no review can lift it).
-- Training edge cases bypass quality and safety filters; nothing bypasses PII redaction.
with policy as (
    select * from {{ ref('int_records_policy') }}
),

scores as (
    select * from {{ ref('int_record_scores') }}
),

-- the macro reads the record's own columns beside its scores
scores_in as (
    select p.record_id, p.kind, p.label, p.is_training_edge_case, s.*
    from policy as p join scores as s on s.key = p.dedup_hash
),

reviews as (
    select * from {{ ref('int_review_verdicts') }}
),

-- bias signals of every record that passed the policy (a missing row reads as `quality:bias missing`
-- where the family has a limit)
bias_in as (
    select p.record_id, p.label, p.is_training_edge_case, b.stereotype_flags, b.bias_score
    from policy as p left join {{ ref('int_record_bias') }} as b on b.key = p.dedup_hash
    where p.policy_reason is null
),

classified as (
select
    p.* exclude (quarantine_reason, policy_reason),
    s.* exclude (key, record_id, kind, label, is_training_edge_case),
    -- metadata.quality of the release (lakehouse.quality.batch.quality_metadata has the same shape)
    case when s.key is not null then {
        'empathy': s.empathy,
        'empathy_mechanisms': {'emotional_reactions': s.emotional_reactions,
                               'interpretations': s.interpretations, 'explorations': s.explorations},
        'coherence': s.coherence,
        'reasoning_completeness': s.reasoning_completeness,
        'crisis_disclosure': coalesce(s.crisis_disclosure, false),
        'crisis_categories': coalesce(s.crisis_categories, []::varchar[]),
        'crisis_handling': s.crisis_handling,
        'harmful_response': coalesce(s.harmful_response, false),
        'toxic_assistant': coalesce(s.toxic_assistant, false),
        'preference_margin': s.preference_margin
    } end as quality,
    coalesce(s.crisis_disclosure, false) as safety_crisis,
    coalesce(s.toxic_assistant, false) as safety_toxicity,
    coalesce(s.crisis_categories, []::varchar[]) as safety_categories,
    bi.stereotype_flags,
    bi.bias_score,
    coalesce(
        p.policy_reason,
        case when s.key is not null then {{ quality_quarantine_reason('s.', 'reg.', var('crisis_handling_min')) }} end,
        case when bi.record_id is not null then {{ bias_quarantine_reason('bi.', 'reg.') }} end,
        case when r.review_verdict in ('fail', 'escalate')
            then 'clinical_review ' || r.review_verdict || ' decision ' || r.review_decision_id end
    ) as base_reason,
    coalesce(r.is_released_by_review, false) as is_released_by_review,
    r.release_decision_id as review_release_decision_id
from policy as p
left join scores_in as s on s.key = p.dedup_hash and s.record_id = p.record_id
left join {{ ref('dataset_registry') }} as reg on reg.family = p.source_family
left join reviews as r on r.record_id = p.record_id
left join bias_in as bi on bi.record_id = p.record_id
)

select
    * exclude (base_reason),
    case
        when is_released_by_review
            and split_part(split_part(base_reason, ' ', 1), ':', 1) in ('quality', 'safety', 'clinical_review')
            then null
        else base_reason
    end as quarantine_reason
from classified
