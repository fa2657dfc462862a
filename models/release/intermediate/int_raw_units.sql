{{ config(materialized='view') }}
-- Units of conversion: one raw row, or (one-utterance-per-row shapes) the rows of one
-- conversation grouped in turn order. unit_id is the record id stem of what the unit converts
-- to. The conversion itself (lakehouse/shapes) runs on lakehouse/engine in int_units_converted.
with raw as (
    select * from {{ ref('stg_lakehouse__raw_records') }}
),

single_rows as (
    select
        * exclude (record, parse_error),
        record as raw_record,
        1::bigint as source_rows,
        case when parse_error is null then record end as unit_record,
        null::varchar[] as unit_records,
        case when parse_error is not null then coalesce(parse_error_code, 'invalid_json') end as unit_error
    from raw
    where shape <> 'utterance_rows' or parse_error is not null
),

utterances as (
    select
        *,
        json_extract_string(shape_options, '$.conversation_key') as conversation_key,
        json_extract_string(shape_options, '$.turn_key') as turn_key
    from raw
    where shape = 'utterance_rows' and parse_error is null
),

utterance_groups as (
    select
        any_value(landing_id) as landing_id,
        min(landed_at) as landed_at,
        source_name,
        any_value(source_family) as source_family,
        any_value(license_tag) as license_tag,
        source_key,
        file_sha256,
        any_value(file_bytes) as file_bytes,
        min(row_number) as row_number,
        min(line_number) as line_number,
        any_value(input_format) as input_format,
        'utterance_rows' as shape,
        any_value(shape_options) as shape_options,
        bool_or(is_edge_case) as is_edge_case,
        count(*) as source_rows,
        to_json(list(json(record) order by
            try_cast(json_extract_string(record, '$."' || turn_key || '"') as double),
            json_extract_string(record, '$."' || turn_key || '"'),
            row_number))::varchar as raw_record,
        null::varchar as unit_record,
        list(record order by
            try_cast(json_extract_string(record, '$."' || turn_key || '"') as double),
            json_extract_string(record, '$."' || turn_key || '"'),
            row_number) as unit_records,
        null::varchar as unit_error
    from utterances
    group by source_name, source_key, file_sha256,
        json_extract_string(record, '$."' || conversation_key || '"')
)

select
    source_name || ':' || left(file_sha256, 12) || ':' || row_number::varchar as unit_id,
    *
from (
    select * from single_rows
    union all by name
    select * from utterance_groups
)
