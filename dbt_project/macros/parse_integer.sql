{#- Text -> BIGINT. Accepts thousands separators ("1,021") and surrounding blanks;
    anything else that is not a whole number becomes null (the validation model reports it). -#}
{% macro parse_integer(column_sql) -%}
    try_cast(replace(trim({{ column_sql }}), ',', '') as bigint)
{%- endmacro %}

{#- Blank text -> null, otherwise trimmed. -#}
{% macro clean_text(column_sql) -%}
    nullif(trim({{ column_sql }}), '')
{%- endmacro %}
