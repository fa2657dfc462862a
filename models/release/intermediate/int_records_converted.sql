-- Raw units -> records in the three output kinds (sft / preference / pretrain), converted on
-- lakehouse/engine (int_units_converted). One unit may give several records (sub_index).
-- Failures keep their row with a quarantine_reason: nothing is dropped here.
with exploded as (
    select
        u.* exclude (unit_record, unit_records, unit_error),
        len(cv.converted) as n_converted,
        unnest(cv.converted) as c,
        unnest(range(len(cv.converted))) as sub_index
    from {{ ref('int_raw_units') }} as u
    join {{ ref('int_units_converted') }} as cv using (unit_id)
)

select
    unit_id || case when n_converted > 1 then '.' || sub_index::varchar else '' end as record_id,
    {{ provenance_columns() }},
    sub_index,
    line_number,
    input_format,
    shape,
    is_edge_case,
    c.kind as kind,
    c.messages as messages,
    c.prompt as prompt,
    c.chosen as chosen,
    c.rejected as rejected,
    c.text as text,
    c.label as label,
    c.quarantine_reason as quarantine_reason,
    c.repairs as repairs,
    c.dedup_hash as dedup_hash,
    c.dedup_text as dedup_text,
    case when sub_index = 0 then source_rows else 0 end as source_rows,
    raw_record
from exploded
