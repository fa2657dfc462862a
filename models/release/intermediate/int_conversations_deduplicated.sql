-- Exact dedup: one survivor per content_hash, chosen deterministically (earliest landing, then
-- source, file and row); every other copy keeps duplicate_of = the survivor's record_id.
with ranked as (
    select
        *,
        row_number() over w as dup_rank,
        first_value(record_id) over w as survivor_id
    from {{ ref('int_conversations_hashed') }}
    window w as (
        partition by content_hash
        order by landed_at, source_name, source_key, row_number, sub_index
        rows between unbounded preceding and unbounded following
    )
)

select
    * exclude (dup_rank, survivor_id),
    dup_rank = 1 as is_survivor,
    case when dup_rank > 1 then survivor_id end as duplicate_of,
    case when dup_rank > 1 then 'exact' end as duplicate_kind
from ranked
