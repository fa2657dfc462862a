-- Counts reconcile exactly: every converted record is released, a duplicate (exact, near, or
-- after redaction) or quarantined; every raw row is converted or quarantined. Fails with one row
-- per broken equation.
with converted as (select count(*) as n from {{ ref('int_records_classified') }}),
quarantined as (select count(*) as n from {{ ref('quarantine') }}),
curated as (
    select
        count(*) as n,
        count(*) filter (where is_released) as released,
        count(*) filter (where not is_released and duplicate_kind is not null) as duplicates,
        count(*) filter (where not is_released and duplicate_kind is null) as unexplained
    from {{ ref('conversations') }}
),
release as (select count(*) as n from {{ ref('release_conversations') }}),
rows as (
    select sum(rows_read) as rows_read, sum(rows_converted) + sum(rows_quarantined) as rows_accounted
    from {{ ref('coverage') }}
)

select 'converted = curated + quarantined' as equation
from converted, curated, quarantined where converted.n <> curated.n + quarantined.n
union all
select 'curated = released + duplicates' from curated where curated.n <> curated.released + curated.duplicates or curated.unexplained > 0
union all
select 'released = release rows' from curated, release where curated.released <> release.n
union all
select 'rows_read = rows_converted + rows_quarantined' from rows where rows.rows_read <> rows.rows_accounted
