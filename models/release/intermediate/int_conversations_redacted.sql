-- PII redaction of every record that will be released, after exact and near dedup so each
-- distinct message is analysed once (and, through cache/pii_spans, once across builds).
-- The per-record work is int_pii_spans (analysis) and int_pii_redactions (placeholders), both on
-- lakehouse/engine; content_hash is the hash of the released (redacted) content. The released
-- source_key is PII-scanned too (int_source_keys_redacted).
select
    r.* exclude (messages, prompt, chosen, rejected, text, source_key),
    coalesce(k.source_key, r.source_key) as source_key,
    p.messages,
    p.prompt,
    p.chosen,
    p.rejected,
    p.text,
    p.pii_status,
    p.pii_redactions,
    p.content_hash
from {{ ref('int_conversations_releasable') }} as r
join {{ ref('int_pii_redactions') }} as p using (record_id)
left join {{ ref('int_source_keys_redacted') }} as k on k.original = r.source_key
