-- Clinician review decisions (reviews/decisions, Delta, appended by `lakehouse qa record`), one row
-- per decision_id. No message text: notes stay in the Delta table. An absent table (no decision
-- recorded yet) gives an empty, typed relation, so a build never depends on reviews existing.
-- depends_on: {{ source('lakehouse', 'review_decisions') }}
{%- if lakehouse_delta_table_exists('reviews/decisions') %}
select
    decision_id,
    reviewer,
    record_id,
    content_hash,
    release,
    lower(verdict) as verdict,
    rubric,
    rubric_version,
    record_status,
    quarantine_reason_code,
    recorded_at
from delta_scan('{{ lakehouse_root() }}/reviews/decisions')
qualify row_number() over (partition by decision_id order by recorded_at, reviewer) = 1
{%- else %}
select
    null::varchar as decision_id, null::varchar as reviewer, null::varchar as record_id,
    null::varchar as content_hash, null::varchar as release, null::varchar as verdict,
    null::varchar as rubric, null::varchar as rubric_version, null::varchar as record_status,
    null::varchar as quarantine_reason_code, null::timestamptz as recorded_at
where false
{%- endif %}
