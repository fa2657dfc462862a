-- Exact survivors with their near-duplicate cluster (MinHash LSH, int_conversations_near_duplicates).
-- The cluster_id (record_id of the cluster's survivor) is the split key, so near duplicates always
-- share a split; with near_dedup_remove (default true) only the survivor is released.
select
    d.* exclude (dedup_text, rank_key),
    coalesce(n.cluster_id, d.record_id) as cluster_id,
    coalesce(n.is_survivor, true) as is_near_survivor,
    case when not coalesce(n.is_survivor, true) then n.kept_id end as near_duplicate_of,
    case when not coalesce(n.is_survivor, true) then n.jaccard end as near_jaccard
from {{ ref('int_conversations_deduplicated') }} as d
left join {{ ref('int_conversations_near_duplicates') }} as n using (record_id)
where d.is_exact_survivor
