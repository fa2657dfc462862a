{% test gate_coverage(model, registry, waivers=[]) %}
{#- Gate 1, coverage: every family the registry marks required is in the release, unless waived
    (var coverage_waivers). One failing row per missing family. -#}
select r.family as missing_family
from {{ registry }} as r
where r.required
  {%- if waivers | length > 0 %}
  and r.family not in ({% for w in waivers %}'{{ w }}'{% if not loop.last %}, {% endif %}{% endfor %})
  {%- endif %}
  and not exists (
      select 1 from {{ model }} as m
      where m.family = r.family or m.source_family = r.family
  )
{% endtest %}
