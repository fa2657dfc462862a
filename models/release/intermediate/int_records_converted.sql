-- Raw rows -> records in the three output kinds (sft / preference / pretrain), through the
-- lh_convert UDFs (lakehouse/shapes). One raw row may give several records (sub_index);
-- one-utterance-per-row shapes are grouped into conversations first. Failures keep their row
-- with a quarantine_reason: nothing is dropped here.
with raw as (
    select * from {{ ref('stg_lakehouse__raw_records') }}
),

single_rows as (
    select
        * exclude (record, parse_error),
        record as raw_record,
        1::bigint as source_rows,
        case
            when parse_error is not null then
                [{'kind': null, 'messages': null, 'prompt': null, 'chosen': null, 'rejected': null,
                  'text': null, 'label': null, 'quarantine_reason': 'invalid_json', 'repairs': '{}'}]
            else lh_convert(record, shape, shape_options)
        end as converted
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
        lh_convert_group(
            list(record order by
                try_cast(json_extract_string(record, '$."' || turn_key || '"') as double),
                json_extract_string(record, '$."' || turn_key || '"'),
                row_number),
            any_value(shape_options)) as converted
    from utterances
    group by source_name, source_key, file_sha256,
        json_extract_string(record, '$."' || conversation_key || '"')
),

all_rows as (
    select * from single_rows
    union all by name
    select * from utterance_groups
),

exploded as (
    select
        * exclude (converted),
        len(converted) as n_converted,
        unnest(converted) as c,
        unnest(range(len(converted))) as sub_index
    from all_rows
)

select
    source_name || ':' || left(file_sha256, 12) || ':' || row_number::varchar
        || case when n_converted > 1 then '.' || sub_index::varchar else '' end as record_id,
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
    case when sub_index = 0 then source_rows else 0 end as source_rows,
    raw_record
from exploded
