{% test gate_split(model, registry) %}
{#- Gate 7, split: records of holdout families (registry) or holdout sources appear only in
    test, and every split is one of train/val/test. One failing row per record. -#}
select record_id, split
from {{ model }}
where split not in ('train', 'val', 'test')
   or (split <> 'test' and (
        family in (select family from {{ registry }} where holdout)
        or source_family in (select family from {{ registry }} where holdout)
        or source_name in ({{ holdout_source_list() }})))
{% endtest %}
