{% test gate_split(model, registry) %}
{#- Gate 7, split: every split is one of train/val/test; records of holdout families (registry) or
    holdout sources, and the registry's holdout_share of each family's clusters (recomputed here from
    the seed and cluster_id), appear only in test; a cluster, and the records of one raw row (derived
    from one source record), never straddle splits. One failing row per record or group. -#}
select record_id, split, 'invalid_split' as problem
from {{ model }}
where split is null or split not in ('train', 'val', 'test')

union all
select record_id, split, 'holdout_outside_test'
from {{ model }}
where split <> 'test' and (
        family in (select family from {{ registry }} where holdout)
        or source_family in (select family from {{ registry }} where holdout)
        or source_name in ({{ holdout_source_list() }}))

union all
select m.record_id, m.split, 'holdout_share_outside_test'
from {{ model }} as m
join {{ registry }} as r on r.family = m.family
where m.split <> 'test' and coalesce(r.holdout_share, 0) > 0
  and {{ holdout_pick('m.cluster_id', 'r.holdout_share') }}

union all
select min(record_id), string_agg(distinct split, ',' order by split), 'cluster_straddles_splits'
from {{ model }}
group by cluster_id
having count(distinct split) > 1

union all
select min(record_id), string_agg(distinct split, ',' order by split), 'source_record_straddles_splits'
from {{ model }}
group by source_name, file_sha256, row_number
having count(distinct split) > 1
{% endtest %}
