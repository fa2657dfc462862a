{{ config(materialized='view') }}
-- The records that go on to redaction and release: exact survivors that survive near dedup
-- (or every exact survivor when near_dedup_remove is false).
select *
from {{ ref('int_conversations_clustered') }}
where is_near_survivor or not {{ var('near_dedup_remove') }}
