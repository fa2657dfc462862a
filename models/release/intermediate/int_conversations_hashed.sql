-- Convertible records with their canonical SHA-256 content hash (lakehouse/hashing.py) and
-- simple size measures.
select
    record_id,
    source_name,
    source_family,
    license_tag,
    source_key,
    file_sha256,
    row_number,
    sub_index,
    landing_id,
    landed_at,
    shape,
    is_edge_case as is_training_edge_case,
    kind,
    messages,
    prompt,
    chosen,
    rejected,
    text,
    label,
    repairs,
    lh_content_hash(kind, messages, prompt, chosen, rejected, text, label) as content_hash,
    case kind
        when 'sft' then len(messages)
        when 'preference' then len(prompt) + 1
        else 0
    end as n_turns,
    case kind
        when 'sft' then list_sum(list_transform(messages, m -> length(m.content)))
        when 'preference' then list_sum(list_transform(prompt, m -> length(m.content)))
            + list_sum(list_transform(chosen, m -> length(m.content)))
        else length(text)
    end as n_chars
from {{ ref('int_records_converted') }}
where quarantine_reason is null
