-- Deterministic grouped split of the released records: bucket = sha256('<seed>:<cluster_id>')
-- mod 10000 (split_key var: cluster (default) or content_hash); train below split_train, val
-- below split_train + split_val, test above; records marked is_holdout in int_conversations_routed
-- (holdout families and sources, and each family's holdout_share of clusters) go to test only.
select
    *,
    {{ split_bucket(split_key_column()) }} as split_bucket,
    {{ split_of(split_key_column(), 'is_holdout') }} as split
from {{ ref('int_conversations_routed') }}
where is_post_redaction_survivor
