-- Curriculum routing. Records whose redacted content collides with another's are deduplicated
-- once more (duplicate_kind exact_after_redaction). Phase-B SFT conversations with at least
-- long_running_min_turns turns form the long_running_therapy family, but only from families whose
-- registry row has feeds_long_running (never priority or edge-case families: their crossover rules
-- keep them in stages 1 and 3). A record's SFT stage comes from its curriculum family.
--
-- Split groups: records derived from one source record (several records of one raw row, or records
-- carrying the same metadata.derived_from or metadata.source_chunk_id, e.g. a persona chunk and its
-- dialogue pairs from `lakehouse persona build`) share a
-- cluster_id (the smallest near-duplicate cluster among them; near_cluster_id keeps the original),
-- so they never straddle splits.
--
-- Holdouts (test only): holdout families and sources, and the registry's holdout_share of each
-- family's clusters, picked by sha256('<split_seed>:<cluster_id>') (macro holdout_pick). A cluster
-- with one held-out record is held out whole.
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

registry as (
    select * from {{ ref('dataset_registry') }}
),

derived_meta as (
    -- metadata.derived_from, or metadata.source_chunk_id (persona chunks and their dialogue pairs)
    select record_id, nullif(trim(coalesce(
            json_extract_string(raw_record, '$.metadata.derived_from'),
            json_extract_string(raw_record, '$.metadata.source_chunk_id'))), '') as derived_from
    from {{ ref('int_records_converted') }}
    where (raw_record like '%derived_from%' or raw_record like '%source_chunk_id%') and json_valid(raw_record)
),

families as (
    select
        x.*,
        case
            when x.kind = 'sft' and x.phase = 'B' and x.n_turns >= {{ var('long_running_min_turns') }}
                and not x.is_training_edge_case and coalesce(src.feeds_long_running, false)
                then 'long_running_therapy'
            else x.source_family
        end as family
    from ranked as x
    left join registry as src on src.family = x.source_family
),

derived as (
    select
        f.*,
        coalesce(
            'derived:' || dm.derived_from,
            case when count(*) over (partition by f.source_name, f.file_sha256, f.row_number) > 1
                then 'row:' || f.source_name || ':' || f.file_sha256 || ':' || f.row_number::varchar end
        ) as derived_group
    from families as f
    left join derived_meta as dm using (record_id)
),

merged as (
    select
        * exclude (cluster_id),
        cluster_id as near_cluster_id,
        min(cluster_id) over (partition by coalesce(derived_group, cluster_id)) as group_cluster
    from derived
),

grouped as (
    select
        * exclude (group_cluster),
        min(group_cluster) over (partition by near_cluster_id) as cluster_id
    from merged
),

held as (
    select
        g.*,
        coalesce(r.holdout, false) or coalesce(rs.holdout, false) as holdout_family,
        g.source_name in ({{ holdout_source_list() }}) as holdout_source,
        {{ holdout_pick('g.cluster_id', 'coalesce(r.holdout_share, 0)') }} as holdout_share_pick,
        r.sft_stage as family_stage,
        r.weight as registry_weight
    from grouped as g
    left join registry as r on r.family = g.family
    left join registry as rs on rs.family = g.source_family
),

marked as (
    select
        *,
        case
            when holdout_family then 'family'
            when holdout_source then 'source'
            when holdout_share_pick then 'share'
        end as own_holdout
    from held
)

select
    * exclude (post_rank, post_survivor, holdout_family, holdout_source, holdout_share_pick, family_stage,
               registry_weight, own_holdout),
    post_rank = 1 as is_post_redaction_survivor,
    case when post_rank > 1 then post_survivor end as post_redaction_duplicate_of,
    case when phase = 'B' then family_stage end as stage,
    coalesce(registry_weight, 1.0) as family_weight,
    bool_or(own_holdout is not null) over (partition by cluster_id) as is_holdout,
    coalesce(own_holdout, case when bool_or(own_holdout is not null) over (partition by cluster_id)
        then 'cluster' end) as holdout_reason
from marked
