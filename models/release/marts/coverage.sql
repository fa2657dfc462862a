-- Per source: rows read, records converted by kind, quarantined by reason, repairs, detected shape.
-- Raw rows reconcile exactly: rows_read = rows_converted + rows_quarantined (a row is converted
-- when at least one of its records is; grouped utterance rows count once each).
with landings as (
    select
        source_name,
        any_value(source_family) as source_family,
        string_agg(distinct shape, ',' order by shape) as shapes,
        string_agg(distinct coalesce(license_tag, '(none)'), ',') as license_tags,
        count(*) as files
    from {{ ref('stg_lakehouse__landings') }}
    group by source_name
),

records as (
    select * from {{ ref('int_records_classified') }}
),

rows_by_origin as (
    select
        source_name,
        sum(source_rows) as source_rows,
        bool_or(quarantine_reason is null) as any_converted
    from records
    group by source_name, file_sha256, row_number
),

row_counts as (
    select
        source_name,
        sum(source_rows) filter (where any_converted) as rows_converted,
        sum(source_rows) filter (where not any_converted) as rows_quarantined
    from rows_by_origin
    group by source_name
),

record_counts as (
    select
        source_name,
        count(*) filter (where quarantine_reason is null) as records_converted,
        count(*) filter (where quarantine_reason is null and kind = 'sft') as records_sft,
        count(*) filter (where quarantine_reason is null and kind = 'preference') as records_preference,
        count(*) filter (where quarantine_reason is null and kind = 'pretrain') as records_pretrain,
        count(*) filter (where quarantine_reason is not null) as records_quarantined,
        sum(coalesce(try_cast(json_extract(repairs, '$.mojibake') as bigint), 0)) as repaired_mojibake,
        sum(coalesce(try_cast(json_extract(repairs, '$.html') as bigint), 0)) as repaired_html,
        sum(coalesce(try_cast(json_extract(repairs, '$.nfc') as bigint), 0)) as repaired_nfc
    from records
    group by source_name
),

reasons as (
    select
        source_name,
        to_json(map(list(reason_code order by reason_code), list(n order by reason_code)))::varchar as quarantined_by_reason
    from (
        select source_name, reason_code, count(*) as n
        from {{ ref('int_records_quarantined') }}
        group by 1, 2
    )
    group by source_name
),

released as (
    select
        source_name,
        count(*) filter (where is_released) as records_released,
        count(*) filter (where duplicate_kind = 'exact') as exact_duplicates,
        count(*) filter (where duplicate_kind = 'near') as near_duplicates,
        count(*) filter (where duplicate_kind = 'exact_after_redaction') as duplicates_after_redaction
    from {{ ref('conversations') }}
    group by source_name
),

raw_rows as (
    select source_name, count(*) as rows_read
    from {{ ref('stg_lakehouse__raw_records') }}
    group by source_name
)

select
    w.source_name,
    l.source_family,
    l.shapes,
    l.license_tags,
    l.files,
    w.rows_read,
    coalesce(rc.rows_converted, 0) as rows_converted,
    coalesce(rc.rows_quarantined, 0) as rows_quarantined,
    coalesce(c.records_converted, 0) as records_converted,
    coalesce(c.records_sft, 0) as records_sft,
    coalesce(c.records_preference, 0) as records_preference,
    coalesce(c.records_pretrain, 0) as records_pretrain,
    coalesce(c.records_quarantined, 0) as records_quarantined,
    coalesce(q.quarantined_by_reason, '{}') as quarantined_by_reason,
    coalesce(q.quarantined_by_reason, '{}') like '%"license"%' as license_quarantined,
    coalesce(r.records_released, 0) as records_released,
    coalesce(r.exact_duplicates, 0) as exact_duplicates,
    coalesce(r.near_duplicates, 0) as near_duplicates,
    coalesce(r.duplicates_after_redaction, 0) as duplicates_after_redaction,
    coalesce(c.repaired_mojibake, 0) as repaired_mojibake,
    coalesce(c.repaired_html, 0) as repaired_html,
    coalesce(c.repaired_nfc, 0) as repaired_nfc
from raw_rows as w
left join landings as l using (source_name)
left join row_counts as rc using (source_name)
left join record_counts as c using (source_name)
left join reasons as q using (source_name)
left join released as r using (source_name)
