-- Why each near duplicate was removed: the removed record, the record kept, estimated Jaccard.
select
    record_id as removed_id,
    kept_id,
    jaccard
from {{ ref('int_conversations_near_duplicates') }}
where not is_survivor
