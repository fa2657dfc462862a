-- Deterministic split of the surviving records: bucket = sha256('<seed>:<content_hash>') mod 10000,
-- train below split_train, val below split_train + split_val, test above. Phase from kind.
{%- set train_cut = (var('split_train') | float * 10000) | int %}
{%- set val_cut = ((var('split_train') | float + var('split_val') | float) * 10000) | int %}
with survivors as (
    select * from {{ ref('int_conversations_deduplicated') }}
    where is_survivor
),

bucketed as (
    select
        *,
        ('0x' || left(sha256('{{ var("split_seed") }}:' || content_hash), 15))::ubigint % 10000 as split_bucket
    from survivors
)

select
    *,
    case
        when split_bucket < {{ train_cut }} then 'train'
        when split_bucket < {{ val_cut }} then 'val'
        else 'test'
    end as split,
    case kind when 'pretrain' then 'A' when 'sft' then 'B' when 'preference' then 'C' end as phase,
    null::integer as stage,
    'clean' as pii_status
from bucketed
