-- One row per reviewed record_id (stable across releases): the most severe verdict of all reviewers
-- (escalate > fail > pass; ties go to the latest decision), the decision that carries it, and
-- whether a reviewer released the record (verdict `release`, recorded against a quarantined record).
-- A release verdict counts (is_released_by_review) when it is at least as recent as the record's
-- latest fail/escalate: a senior reviewer releasing a record after an escalation resolves it.
-- Policy (which quarantine reasons a release may override) is applied where records are
-- classified; this model only states what reviewers decided.
with decisions as (
    select
        *,
        case verdict when 'escalate' then 3 when 'fail' then 2 when 'pass' then 1 else 0 end as severity
    from {{ ref('stg_lakehouse__review_decisions') }}
),

worst as (
    select record_id, verdict, decision_id, severity
    from decisions
    where severity > 0
    qualify row_number() over (partition by record_id order by severity desc, recorded_at desc, decision_id desc) = 1
),

released as (
    select record_id, decision_id, recorded_at
    from decisions
    where verdict = 'release'
    qualify row_number() over (partition by record_id order by recorded_at desc, decision_id desc) = 1
),

adverse as (
    select record_id, max(recorded_at) as last_adverse_at
    from decisions
    where verdict in ('fail', 'escalate')
    group by record_id
),

stats as (
    select
        record_id,
        count(*) as n_decisions,
        count(distinct reviewer) as n_reviewers,
        max(recorded_at) as last_reviewed_at
    from decisions
    group by record_id
)

select
    s.record_id,
    w.verdict as review_verdict,
    w.decision_id as review_decision_id,
    coalesce(w.severity, 0) as review_severity,
    r.decision_id is not null as has_release_verdict,
    r.decision_id as release_decision_id,
    r.decision_id is not null and (a.last_adverse_at is null or r.recorded_at >= a.last_adverse_at)
        as is_released_by_review,
    s.n_decisions,
    s.n_reviewers,
    s.last_reviewed_at
from stats as s
left join worst as w on w.record_id = s.record_id
left join released as r on r.record_id = s.record_id
left join adverse as a on a.record_id = s.record_id
