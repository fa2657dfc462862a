-- Everything that was read but is not released for a reason other than duplication.
-- Published as the Delta table quarantine/records (restricted: keeps the original text).
select * from {{ ref('int_records_quarantined') }}
