-- The release: every surviving, gated record with its shard and its serialized JSON line
-- (docs/release-format.md). The release gates (tests named gate_*) run on this model; the
-- exporter (python/models/release/release_export.py) only runs when they all pass.
with released as (
    select
        s.*,
        -- bias signals of the record's canonical content (int_record_bias, the key the policy used)
        b.group_mentions,
        b.stereotype_flags,
        b.bias_score,
        b.language,
        (row_number() over (partition by s.split, s.family, s.kind, s.label is not null order by s.content_hash) - 1)
            // {{ var('shard_size') }} as shard
    from {{ ref('int_conversations_split') }} as s
    left join {{ ref('int_record_bias') }} as b on b.key = s.dedup_hash
),

registry_version as (
    select left(sha256(string_agg(
        concat_ws('|', family, phases, sft_stage, weight, required, holdout, is_edge_case, priority,
                  min_turns, min_chars, max_chars, holdout_share, feeds_long_running, min_empathy, min_coherence,
                  min_reasoning_completeness, min_preference_margin, min_crisis_handling, quality_waiver, min_records,
                  max_bias_score), chr(10) order by family)), 16) as registry_version
    from {{ ref('dataset_registry') }}
),

build as (
    select registry_version, lh_build_info(registry_version) as info from registry_version
),

serialized as (
    select
        r.*,
        b.registry_version,
        {
            -- lakehouse.review.bias signals (reports/bias.json aggregates them)
            'bias': {
                'bias_score': r.bias_score,
                'group_mentions': r.group_mentions,
                'language': r.language,
                'stereotype_flags': r.stereotype_flags
            },
            'content_hash': r.content_hash,
            'family': r.family,
            'file_sha256': r.file_sha256,
            'is_training_edge_case': r.is_training_edge_case,
            'kind': r.kind,
            'landing_id': r.landing_id,
            'license_tag': r.license_tag,
            'phase': r.phase,
            'pii_status': r.pii_status,
            'quality': r.quality,
            -- a quarantined record a clinician released: the decision that released it
            'released_by_review': r.review_release_decision_id,
            'record_id': r.record_id,
            'row_number': r.row_number,
            'source_family': r.source_family,
            'source_key': r.source_key,
            'source_name': r.source_name,
            'split': r.split,
            'stage': r.stage,
            'transform': {
                'git_commit': b.info.git_commit,
                'package_version': b.info.package_version,
                'pii_config_hash': b.info.pii_config_hash,
                'pii_model': b.info.pii_model,
                'quality_config_hash': b.info.quality_config_hash,
                'quality_scorer': b.info.quality_scorer,
                'registry_version': b.registry_version
            }
        } as metadata
    from released as r
    cross join build as b
)

select
    record_id,
    kind,
    content_hash,
    cluster_id,
    split,
    phase,
    stage,
    shard,
    -- shards/<config>/<split>/<family>/part-NNNNN.jsonl; config = the kind, or kto for labelled sft rows
    'shards/' || case when kind = 'sft' and label is not null then 'kto' else kind end || '/' || split || '/'
        || family || '/part-' || lpad(shard::varchar, 5, '0') || '.jsonl' as shard_key,
    family,
    family_weight,
    is_holdout,
    {{ provenance_columns() }},
    is_training_edge_case,
    pii_status,
    pii_redactions,
    {{ quality_score_columns() }},
    group_mentions,
    stereotype_flags,
    bias_score,
    language,
    review_release_decision_id,
    registry_version,
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
