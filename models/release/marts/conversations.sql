-- The curated conversation table: one row per releasable record (quarantined ones are in
-- `quarantine`), with its dedup decisions (exact, near, after redaction), cluster, split, phase,
-- stage and privacy status. Content columns hold the released (redacted) content and are null for
-- records not released (their survivor carries the content). Published as curated/conversations.
with d as (
    select * from {{ ref('int_conversations_deduplicated') }}
),

c as (
    select record_id, cluster_id, near_duplicate_of, near_jaccard from {{ ref('int_conversations_clustered') }}
),

r as (
    select * from {{ ref('int_conversations_routed') }}
),

s as (
    select record_id, split from {{ ref('int_conversations_split') }}
),

b as (
    select * from {{ ref('int_record_bias') }}
),

decided as (
    select
        d.*,
        coalesce(r.cluster_id, c.cluster_id, c_dup.cluster_id, d.record_id) as cluster_id,
        c.near_duplicate_of,
        c.near_jaccard,
        r.post_redaction_duplicate_of,
        r.content_hash,
        r.pii_status,
        r.pii_redactions,
        r.family,
        r.stage,
        r.is_holdout,
        r.messages as released_messages,
        r.prompt as released_prompt,
        r.chosen as released_chosen,
        r.rejected as released_rejected,
        r.text as released_text,
        s.split as released_split,
        b.group_mentions,
        b.stereotype_flags,
        b.bias_score,
        b.language
    from d
    left join c on c.record_id = d.record_id
    left join c as c_dup on c_dup.record_id = d.exact_duplicate_of
    left join r on r.record_id = d.record_id
    left join s on s.record_id = d.record_id
    left join b on b.key = d.dedup_hash
)

select
    record_id,
    kind,
    {{ provenance_columns() }},
    family,
    sub_index,
    line_number,
    shape,
    is_training_edge_case,
    dedup_hash,
    content_hash,
    cluster_id,
    released_split is not null as is_released,
    coalesce(exact_duplicate_of, near_duplicate_of, post_redaction_duplicate_of) as duplicate_of,
    case
        when exact_duplicate_of is not null then 'exact'
        when near_duplicate_of is not null then 'near'
        when post_redaction_duplicate_of is not null then 'exact_after_redaction'
    end as duplicate_kind,
    near_jaccard,
    coalesce(released_split, {{ split_of(split_key_column('dedup_hash'), 'coalesce(is_holdout, false)') }}) as split,
    phase,
    stage,
    pii_status,
    pii_redactions,
    repairs,
    n_turns,
    n_chars,
    -- bias signals of the record's canonical content (int_record_bias; lakehouse.review.bias)
    group_mentions,
    stereotype_flags,
    bias_score,
    language,
    -- metadata.quality: the clinical quality and safety scores (int_conversations_hashed)
    quality,
    released_messages as messages,
    released_prompt as prompt,
    released_chosen as chosen,
    released_rejected as rejected,
    released_text as text,
    label
from decided
