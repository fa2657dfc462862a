-- Distribution statistics of the release by family x split x stage x kind (reports/stats.json).
-- tokens_est is characters / 4 (a tokenizer-free estimate); words splits on whitespace.
select
    family,
    split,
    stage,
    kind,
    count(*) as records,
    sum(n_turns) as turns,
    sum(n_chars) as chars,
    sum(ceil(n_chars / 4.0))::bigint as tokens_est,
    min(n_chars) as min_chars,
    max(n_chars) as max_chars,
    round(avg(n_turns), 3) as mean_turns,
    count(*) filter (where is_training_edge_case) as edge_case_records,
    count(*) filter (where pii_status = 'redacted') as redacted_records
from {{ ref('release_conversations') }}
group by all
order by family, split, stage nulls first, kind
