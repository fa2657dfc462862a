-- Exact dedup: one survivor per dedup_hash, chosen deterministically (registry priority, then
-- earliest landing, then source, file and row); every other copy keeps duplicate_of.
with ranked as (
    select
        *,
        row_number() over w as dup_rank,
        first_value(record_id) over w as survivor_id
    from {{ ref('int_conversations_hashed') }}
    window w as (
        partition by dedup_hash
        order by {{ survivor_order() }}
        rows between unbounded preceding and unbounded following
    )
)

select
    * exclude (dup_rank, survivor_id),
    dup_rank = 1 as is_exact_survivor,
    case when dup_rank > 1 then survivor_id end as exact_duplicate_of,
    lpad(family_priority::varchar, 6, '0') || '|' || strftime(landed_at, '%Y%m%dT%H%M%S.%f') || '|' || record_id as rank_key
from ranked
