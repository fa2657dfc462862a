-- Releasable records with their canonical SHA-256 hash before redaction (dedup_hash,
-- lakehouse/hashing.py): the key of exact dedup.
select
    record_id,
    {{ provenance_columns() }},
    sub_index,
    line_number,
    shape,
    is_training_edge_case,
    family_priority,
    kind,
    phase,
    messages,
    prompt,
    chosen,
    rejected,
    text,
    label,
    repairs,
    quality,
    {{ quality_score_columns() }},
    review_release_decision_id,
    n_turns,
    n_chars,
    dedup_hash,
    dedup_text
from {{ ref('int_records_classified') }}
where quarantine_reason is null
