-- PII redaction (lh_redact -> lakehouse/privacy, Presidio) of every record that will be
-- released, after exact and near dedup so each distinct message is analyzed once (the redactor
-- also caches by message hash). Consistent typed placeholders per conversation; the mapping is
-- never stored. content_hash is then computed on the released (redacted) content.
with to_release as (
    select * from {{ ref('int_conversations_clustered') }}
    where is_near_survivor or not {{ var('near_dedup_remove') }}
),

redacted as (
    select
        * exclude (messages, prompt, chosen, rejected, text),
        lh_redact(kind, messages, prompt, chosen, rejected, text) as r
    from to_release
)

select
    * exclude (r),
    r.messages as messages,
    r.prompt as prompt,
    r.chosen as chosen,
    r.rejected as rejected,
    r.text as text,
    r.pii_status as pii_status,
    r.redactions as pii_redactions,
    lh_content_hash(kind, r.messages, r.prompt, r.chosen, r.rejected, r.text, label) as content_hash
from redacted
