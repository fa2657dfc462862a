-- The release: every surviving, gated record with its shard and its serialized JSON line
-- (docs/release-format.md). The release gates are tests on this model; the exporter
-- (python/models/release/release_export.py) only runs when they all pass.
with released as (
    select
        *,
        (row_number() over (partition by split, source_family order by content_hash) - 1)
            // {{ var('shard_size') }} as shard
    from {{ ref('int_conversations_split') }}
),

serialized as (
    select
        *,
        {
            'content_hash': content_hash,
            'file_sha256': file_sha256,
            'is_training_edge_case': is_training_edge_case,
            'kind': kind,
            'landing_id': landing_id,
            'license_tag': license_tag,
            'phase': phase,
            'pii_status': pii_status,
            'record_id': record_id,
            'row_number': row_number,
            'source_family': source_family,
            'source_key': source_key,
            'source_name': source_name,
            'split': split,
            'stage': stage
        } as metadata
    from released
)

select
    record_id,
    kind,
    content_hash,
    split,
    phase,
    stage,
    shard,
    'shards/' || split || '/' || source_family || '/part-' || lpad(shard::varchar, 5, '0') || '.jsonl' as shard_key,
    source_name,
    source_family,
    license_tag,
    source_key,
    file_sha256,
    row_number,
    landing_id,
    landed_at,
    is_training_edge_case,
    pii_status,
    n_turns,
    n_chars,
    messages,
    prompt,
    chosen,
    rejected,
    text,
    label,
    case kind
        when 'sft' then
            case when label is null
                then to_json({'messages': messages, 'metadata': metadata})
                else to_json({'label': label, 'messages': messages, 'metadata': metadata})
            end
        when 'preference' then to_json({'chosen': chosen, 'metadata': metadata, 'prompt': prompt, 'rejected': rejected})
        else to_json({'metadata': metadata, 'text': text})
    end::varchar as json_line
from serialized
