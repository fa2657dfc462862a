-- Records that cannot be released, with the reason. They keep their original raw record:
-- quarantine/ (like raw/) holds unredacted text by design and must be access-restricted.
select
    record_id,
    source_name,
    source_family,
    license_tag,
    source_key,
    file_sha256,
    row_number,
    line_number,
    landing_id,
    landed_at,
    shape,
    kind,
    quarantine_reason,
    split_part(quarantine_reason, ' ', 1) as reason_code,
    raw_record
from {{ ref('int_records_converted') }}
where quarantine_reason is not null
