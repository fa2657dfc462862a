-- Records that cannot be released, with the reason. They keep their original raw record:
-- quarantine/ (like raw/) holds unredacted text by design and must be access-restricted.
select
    record_id,
    {{ provenance_columns() }},
    line_number,
    shape,
    kind,
    is_training_edge_case,
    quarantine_reason,
    case
        when quarantine_reason like 'unknown role%' then 'unknown_role'
        when quarantine_reason like 'missing_field%' then 'missing_field'
        else regexp_replace(split_part(quarantine_reason, ' ', 1), '[^a-z_:]', '', 'g')
    end as reason_code,
    -- the scores and bias signals the decision saw (null when it came before scoring)
    quality,
    stereotype_flags,
    bias_score,
    raw_record
from {{ ref('int_records_classified') }}
where quarantine_reason is not null
