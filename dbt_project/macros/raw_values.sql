{#- The one definition of a whole number in the raw file (README "Cleaning rules"): digits,
    with thousands separators in groups of three ("1,021"), an optional minus sign (a negative
    count then fails its range rule, with its value) and surrounding spaces. A whole number
    written with zero decimals ("90598517.00", as spreadsheets write it) is that number.
    Anything else is null here and reported by the validation model as unparseable_number with
    its text: other decimals ("12.5" is not rounded), scientific notation ("1.41E+08" may have
    lost digits), hex, underscores, numbers beyond BIGINT. `text_sql`: a cell as clean_text
    returns it (trimmed; placeholders are null). The first branch is a shortcut with the same
    answer, several times cheaper than the pattern on the 20 numeric cells of every row: text
    that a cast turns into a bigint and back into itself ("7", "-12") matches the pattern. -#}
{% macro parse_integer(text_sql) -%}
    case
        when cast(try_cast({{ text_sql }} as bigint) as {{ dbt.type_string() }}) = {{ text_sql }}
            then try_cast({{ text_sql }} as bigint)
        when {{ full_match(text_sql, '-?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)([.]0+)?') }}
            then try_cast(split_part(replace({{ text_sql }}, ',', ''), '.', 1) as bigint)
    end
{%- endmacro %}

{#- Text that stands for "no value" in copies of this file exported by SQL and BI tools,
    spreadsheets or pandas: any case, surrounding spaces allowed. -#}
{% macro missing_value_placeholders() -%}
    {{ return(['null', 'na', 'n/a', 'none', 'nan', '-']) }}
{%- endmacro %}

{#- Text without its surrounding spaces; null for a blank cell or a missing-value placeholder.
    (A regular expression: DuckDB plans it much faster than an IN list, which matters on one
    song's prediction. Text starting with a digit is no placeholder and skips it.) -#}
{% macro clean_text(column_sql) -%}
    case
        when {{ column_sql }} >= '0' and {{ column_sql }} < ':'
            then {{ without_surrounding_spaces(column_sql) }}
        when not {{ full_match(
            column_sql, ' *(?i:' ~ missing_value_placeholders() | join('|') ~ ')? *'
        ) }}
            then {{ without_surrounding_spaces(column_sql) }}
    end
{%- endmacro %}

{#- A space is U+0020 alone, on both engines: DuckDB's trim() would also strip a no-break
    space, Spark's does not. Most cells have none, and the test is cheaper than trimming. -#}
{% macro without_surrounding_spaces(text_sql) -%}
    case
        when {{ text_sql }} like ' %' or {{ text_sql }} like '% '
            then trim(both ' ' from {{ text_sql }})
        else {{ text_sql }}
    end
{%- endmacro %}
