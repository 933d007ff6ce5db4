{#- The SQL that differs between DuckDB (the default target) and Spark (target spark), one
    dispatched macro per idea: models call `{{ name(...) }}` and read the same on both. -#}

{#- True when the whole of `text_sql` matches the regular expression `pattern`. -#}
{% macro full_match(text_sql, pattern) -%}
    {{ return(adapter.dispatch('full_match')(text_sql, pattern)) }}
{%- endmacro %}
{% macro duckdb__full_match(text_sql, pattern) -%}
    regexp_full_match({{ text_sql }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__full_match(text_sql, pattern) -%}
    ({{ text_sql }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}

{#- A struct value from {field name: SQL}. -#}
{% macro struct_of(fields) -%}
    {{ return(adapter.dispatch('struct_of')(fields)) }}
{%- endmacro %}
{% macro duckdb__struct_of(fields) -%}
    { {%- for name, value_sql in fields.items() %}'{{ name }}': {{ value_sql }}{{ ', ' if not loop.last }}{% endfor -%} }
{%- endmacro %}
{% macro spark__struct_of(fields) -%}
    named_struct({%- for name, value_sql in fields.items() %}'{{ name }}', {{ value_sql }}{{ ', ' if not loop.last }}{% endfor -%})
{%- endmacro %}

{#- One row per struct of `structs_sql` (a list of struct SQL), its fields as columns; a
    select item. -#}
{% macro rows_of_structs(structs_sql) -%}
    {{ return(adapter.dispatch('rows_of_structs')(structs_sql)) }}
{%- endmacro %}
{% macro duckdb__rows_of_structs(structs_sql) -%}
    unnest([{{ structs_sql | join(', ') }}], recursive := true)
{%- endmacro %}
{% macro spark__rows_of_structs(structs_sql) -%}
    inline(array({{ structs_sql | join(', ') }}))
{%- endmacro %}

{#- A value that sorts by its parts in order (the first part first), for arg_max. -#}
{% macro sort_key(parts_sql) -%}
    {{ return(adapter.dispatch('sort_key')(parts_sql)) }}
{%- endmacro %}
{% macro duckdb__sort_key(parts_sql) -%}
    [{{ parts_sql | join(', ') }}]
{%- endmacro %}
{% macro spark__sort_key(parts_sql) -%}
    struct({{ parts_sql | join(', ') }})
{%- endmacro %}

{#- `value_sql` of the row with the largest `key_sql`. -#}
{% macro arg_max(value_sql, key_sql) -%}
    {{ return(adapter.dispatch('arg_max')(value_sql, key_sql)) }}
{%- endmacro %}
{% macro duckdb__arg_max(value_sql, key_sql) -%}
    arg_max({{ value_sql }}, {{ key_sql }})
{%- endmacro %}
{% macro spark__arg_max(value_sql, key_sql) -%}
    max_by({{ value_sql }}, {{ key_sql }})
{%- endmacro %}

{#- A CTE planner hint ('materialized' or 'not materialized'): DuckDB's, ignored by Spark. -#}
{% macro cte_hint(hint) -%}
    {{ return(adapter.dispatch('cte_hint')(hint)) }}
{%- endmacro %}
{% macro duckdb__cte_hint(hint) -%}
    {{ hint }}
{%- endmacro %}
{% macro spark__cte_hint(hint) -%}
{%- endmacro %}

{#- A hash of text to group and join on (not stored). -#}
{% macro text_hash(text_sql) -%}
    {{ return(adapter.dispatch('text_hash')(text_sql)) }}
{%- endmacro %}
{% macro duckdb__text_hash(text_sql) -%}
    md5_number({{ text_sql }})
{%- endmacro %}
{% macro spark__text_hash(text_sql) -%}
    md5({{ text_sql }})
{%- endmacro %}

{#- Hexadecimal text (at most 15 digits) as a bigint. -#}
{% macro hex_to_bigint(hex_sql) -%}
    {{ return(adapter.dispatch('hex_to_bigint')(hex_sql)) }}
{%- endmacro %}
{% macro duckdb__hex_to_bigint(hex_sql) -%}
    cast('0x' || {{ hex_sql }} as bigint)
{%- endmacro %}
{% macro spark__hex_to_bigint(hex_sql) -%}
    cast(conv({{ hex_sql }}, 16, 10) as bigint)
{%- endmacro %}

{#- The `fraction` quantile of a column, interpolated between the two nearest values. -#}
{% macro quantile_cont(column_sql, fraction) -%}
    {{ return(adapter.dispatch('quantile_cont')(column_sql, fraction)) }}
{%- endmacro %}
{% macro duckdb__quantile_cont(column_sql, fraction) -%}
    quantile_cont({{ column_sql }}, {{ fraction }})
{%- endmacro %}
{% macro spark__quantile_cont(column_sql, fraction) -%}
    percentile({{ column_sql }}, {{ fraction }})
{%- endmacro %}

{#- The last part of a path: its file name. -#}
{% macro file_name(path_sql) -%}
    {{ return(adapter.dispatch('file_name')(path_sql)) }}
{%- endmacro %}
{% macro duckdb__file_name(path_sql) -%}
    parse_filename({{ path_sql }})
{%- endmacro %}
{% macro spark__file_name(path_sql) -%}
    regexp_extract({{ path_sql }}, '[^/]*$', 0)
{%- endmacro %}

{#- The sha256 of a blob, as 64 hexadecimal digits. -#}
{% macro sha256_hex(blob_sql) -%}
    {{ return(adapter.dispatch('sha256_hex')(blob_sql)) }}
{%- endmacro %}
{% macro duckdb__sha256_hex(blob_sql) -%}
    sha256({{ blob_sql }})
{%- endmacro %}
{% macro spark__sha256_hex(blob_sql) -%}
    sha2({{ blob_sql }}, 256)
{%- endmacro %}
