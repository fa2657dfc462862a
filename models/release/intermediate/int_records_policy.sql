-- Release policy per record, before scoring, in order: conversion failures, unregistered family,
-- license (deny by default: missing or not in the license_allowlist seed), crossover (the
-- record's phase must be one the family may feed), then, for records that are not training edge
-- cases, the family's length limits. Scores and the safety/quality decision follow in
-- int_records_classified. Training edge cases bypass length, quality and safety filters.
with converted as (
    select * from {{ ref('int_records_converted') }}
),

registry as (
    select * from {{ ref('dataset_registry') }}
),

licenses as (
    select distinct lower(trim(license_tag)) as license_key from {{ ref('license_allowlist') }}
),

joined as (
    select
        c.*,
        r.family is not null as is_registered,
        r.phases as family_phases,
        coalesce(r.priority, 1000) as family_priority,
        r.min_turns,
        r.min_chars,
        r.max_chars,
        c.is_edge_case or coalesce(r.is_edge_case, false) as is_training_edge_case,
        lower(trim(c.license_tag)) in (select license_key from licenses) as license_allowed,
        -- KTO rows (sft + boolean label) are preference data: phase C
        case c.kind when 'pretrain' then 'A' when 'sft' then (case when c.label is null then 'B' else 'C' end)
            when 'preference' then 'C' end as phase,
        case c.kind
            when 'sft' then len(list_filter(c.messages, m -> m.role <> 'system'))
            when 'preference' then len(list_filter(c.prompt, m -> m.role <> 'system')) + 1
            else 0
        end as n_turns,
        case c.kind
            when 'sft' then coalesce(list_sum(list_transform(c.messages, m -> length(m.content))), 0)
            when 'preference' then coalesce(list_sum(list_transform(c.prompt, m -> length(m.content))), 0)
                + coalesce(list_sum(list_transform(c.chosen, m -> length(m.content))), 0)
            else coalesce(length(c.text), 0)
        end as n_chars
    from converted as c
    left join registry as r on r.family = c.source_family
),

policy as (
    select
        *,
        coalesce(
            quarantine_reason,
            case
                when not is_registered then 'unregistered_family ''' || source_family || ''''
                when license_tag is null or trim(license_tag) = '' then 'license missing'
                when not license_allowed then 'license ''' || license_tag || ''' not in the allow-list'
                when not list_contains(string_split(replace(family_phases, ' ', ''), ','), phase)
                    then 'crossover phase ' || phase || ' not fed by family ' || source_family || ' (phases ' || family_phases || ')'
                when not is_training_edge_case and min_turns is not null and kind <> 'pretrain' and n_turns < min_turns
                    then 'quality min_turns ' || n_turns || ' < ' || min_turns
                when not is_training_edge_case and min_chars is not null and n_chars < min_chars
                    then 'quality min_chars ' || n_chars || ' < ' || min_chars
                when not is_training_edge_case and max_chars is not null and n_chars > max_chars
                    then 'quality max_chars ' || n_chars || ' > ' || max_chars
            end
        ) as policy_reason
    from joined
)

select * exclude (license_allowed) from policy
