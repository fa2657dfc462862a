-- quarantine/records/ under the lakehouse root (Delta), read by `lakehouse sql` as a view: see macros/curated.sql
{{ config(materialized='external', plugin='lakehouse_dbt', delta_key='quarantine/records',
          location="{{ curated_staging_location() }}", options={'row_group_size': '10000'},
          post_hook={'sql': "{{ curated_delta_view() }}", 'transaction': False}) }}
{{ curated_after_release() }}

{{ curated_select(ref('quarantine')) }}
