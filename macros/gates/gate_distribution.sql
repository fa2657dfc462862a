{% test gate_distribution(model, tolerance, min_records, train, val) %}
{#- Gate 3, distribution: the split fractions of every non-holdout family with at least
    min_records records, and of the whole release, are within tolerance of the targets.
    One failing row per family (or ALL) out of tolerance. -#}
with records as (
    select family, split from {{ model }} where not is_holdout
),

groups as (
    select family as grp, count(*) as n,
           count(*) filter (where split = 'train') / count(*) as train,
           count(*) filter (where split = 'val') / count(*) as val,
           count(*) filter (where split = 'test') / count(*) as test
    from records group by family
    union all
    select 'ALL' as grp, count(*) as n,
           count(*) filter (where split = 'train') / count(*),
           count(*) filter (where split = 'val') / count(*),
           count(*) filter (where split = 'test') / count(*)
    from records
    having count(*) > 0
)

select grp, n, train, val, test
from groups
where n >= {{ min_records }}
  and (abs(train - {{ train }}) > {{ tolerance }}
       or abs(val - {{ val }}) > {{ tolerance }}
       or abs(test - (1 - {{ train }} - {{ val }})) > {{ tolerance }})
{% endtest %}
