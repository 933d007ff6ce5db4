{#- One data-quality rule as a struct; int_tracks_validated keeps the first that fails.
    A rule whose condition is null (e.g. on a missing value) does not fail. -#}
{% macro validation_check(reason, field, value_sql, failed_sql) -%}
    {
        'reason': '{{ reason }}',
        'field': '{{ field }}',
        'value': cast({{ value_sql }} as varchar),
        'failed': coalesce({{ failed_sql }}, false),
    }
{%- endmacro %}
