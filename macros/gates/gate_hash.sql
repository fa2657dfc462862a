{% test gate_hash(model) %}
{#- Gate 6, hash: every content_hash is present, well formed (64 hex), recomputes from the
    released content (lh_content_hash -> lakehouse/hashing.py) and is the one in the JSON line.
    One failing row per record. -#}
select record_id, content_hash
from {{ model }}
where content_hash is null
   or not regexp_full_match(content_hash, '[0-9a-f]{64}')
   or content_hash <> lh_content_hash(kind, messages, prompt, chosen, rejected, text, label)
   or json_extract_string(json_line, '$.metadata.content_hash') is distinct from content_hash
{% endtest %}
