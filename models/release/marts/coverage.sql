-- Per source: rows read, records converted by kind, quarantined by reason, repairs, detected shape.
-- Rows read reconcile exactly: rows_read = rows converted + rows quarantined (by raw row).
with landings as (
    select
        source_name,
        any_value(source_family) as source_family,
        string_agg(distinct shape, ',' order by shape) as shapes,
        sum(rows_read) as rows_read,
        sum(parse_errors) as parse_errors,
        count(*) as files
    from {{ ref('stg_lakehouse__landings') }}
    group by source_name
),

converted as (
    select
        source_name,
        count(*) filter (where quarantine_reason is null) as records_converted,
        count(*) filter (where quarantine_reason is null and kind = 'sft') as records_sft,
        count(*) filter (where quarantine_reason is null and kind = 'preference') as records_preference,
        count(*) filter (where quarantine_reason is null and kind = 'pretrain') as records_pretrain,
        count(*) filter (where quarantine_reason is not null) as records_quarantined,
        sum(coalesce(try_cast(json_extract(repairs, '$.mojibake') as bigint), 0)) as repaired_mojibake,
        sum(coalesce(try_cast(json_extract(repairs, '$.html') as bigint), 0)) as repaired_html
    from {{ ref('int_records_converted') }}
    group by source_name
),

reasons as (
    select source_name, to_json(map(list(reason_code order by reason_code), list(n order by reason_code)))::varchar as quarantined_by_reason
    from (
        select source_name, reason_code, count(*) as n
        from {{ ref('int_records_quarantined') }}
        group by 1, 2
    )
    group by source_name
),

raw_rows as (
    select source_name, count(*) as raw_rows
    from {{ ref('stg_lakehouse__raw_records') }}
    group by source_name
)

select
    r.source_name,
    l.source_family,
    l.shapes,
    l.files,
    r.raw_rows as rows_read,
    coalesce(c.records_converted, 0) as records_converted,
    coalesce(c.records_sft, 0) as records_sft,
    coalesce(c.records_preference, 0) as records_preference,
    coalesce(c.records_pretrain, 0) as records_pretrain,
    coalesce(c.records_quarantined, 0) as records_quarantined,
    coalesce(q.quarantined_by_reason, '{}') as quarantined_by_reason,
    coalesce(c.repaired_mojibake, 0) as repaired_mojibake,
    coalesce(c.repaired_html, 0) as repaired_html
from raw_rows as r
left join landings as l using (source_name)
left join converted as c using (source_name)
left join reasons as q using (source_name)
