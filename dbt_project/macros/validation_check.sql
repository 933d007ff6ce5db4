{#- One data-quality rule as a branch of a `case`: int_tracks_validated keeps the first rule
    that fails, as a struct (reason, field, value). A rule whose condition is null (e.g. on a
    missing value) does not fail. -#}
{% macro validation_check(reason, field, value_sql, failed_sql) -%}
    when coalesce({{ failed_sql }}, false)
        then {{ struct_of({
            'reason': "'" ~ reason ~ "'",
            'field': "'" ~ field ~ "'",
            'value': 'cast(' ~ value_sql ~ ' as ' ~ dbt.type_string() ~ ')',
        }) }}
{%- endmacro %}
