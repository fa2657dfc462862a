{% test gate_stats(model, stats) %}
{#- Gate 8, stats: distribution statistics exist for every family x split x stage x kind of the
    release, and they add up to the release. One failing row per missing or wrong group. -#}
with actual as (
    select family, split, stage, kind, count(*) as records, sum(n_turns) as turns, sum(n_chars) as chars
    from {{ model }} group by all
)

select a.family, a.split, a.stage, a.kind, a.records, s.records as stats_records
from actual as a
left join {{ stats }} as s
    on s.family = a.family and s.split = a.split and s.stage is not distinct from a.stage and s.kind = a.kind
where s.records is null or s.records <> a.records or s.turns <> a.turns or s.chars <> a.chars
{% endtest %}
