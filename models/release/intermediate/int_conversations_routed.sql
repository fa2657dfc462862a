-- Curriculum routing. Records whose redacted content collides with another's are deduplicated
-- once more (duplicate_kind exact_after_redaction). SFT conversations with at least
-- long_running_min_turns turns form the long_running_therapy family; a record's phase comes from
-- its kind, its SFT stage from its (curriculum) family in the dataset_registry seed; holdout
-- families and sources are marked for the test split.
with ranked as (
    select
        *,
        row_number() over w as post_rank,
        first_value(record_id) over w as post_survivor
    from {{ ref('int_conversations_redacted') }}
    window w as (
        partition by content_hash
        order by {{ survivor_order() }}
        rows between unbounded preceding and unbounded following
    )
),

families as (
    select
        *,
        case
            when kind = 'sft' and n_turns >= {{ var('long_running_min_turns') }} then 'long_running_therapy'
            else source_family
        end as family
    from ranked
)

select
    f.* exclude (post_rank, post_survivor),
    f.post_rank = 1 as is_post_redaction_survivor,
    case when f.post_rank > 1 then f.post_survivor end as post_redaction_duplicate_of,
    case when f.phase = 'B' then r.sft_stage end as stage,
    coalesce(r.weight, 1.0) as family_weight,
    coalesce(r.holdout, false) or coalesce(rs.holdout, false)
        or f.source_name in ({{ holdout_source_list() }}) as is_holdout
from families as f
left join {{ ref('dataset_registry') }} as r on r.family = f.family
left join {{ ref('dataset_registry') }} as rs on rs.family = f.source_family
