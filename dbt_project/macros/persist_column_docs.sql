{#- The yml descriptions as DuckDB comments on every model's columns, and on the tables and
    columns of the source `source_name`, which ml/ writes and dbt does not build (dbt_project.yml,
    on-run-end). One query finds the columns that exist, where dbt's own column persist_docs
    asks for each model's columns apart (docs/performance/README.md). -#}
{% macro persist_column_docs(source_name) -%}
    {{ return(adapter.dispatch('persist_column_docs')(source_name)) }}
{%- endmacro %}

{#- Spark comments columns of Delta tables only: its parquet tables get none. -#}
{% macro default__persist_column_docs(source_name) -%}
{%- endmacro %}

{% macro duckdb__persist_column_docs(source_name) -%}
    {%- if execute -%}
        {%- set existing = {} -%}
        {%- set tables = run_query(
            "select '\"' || database_name || '\".\"' || schema_name || '\".\"' || table_name || '\"',"
            ~ " string_agg(column_name, ',') from duckdb_columns() group by all"
        ) -%}
        {%- for relation_name, columns in tables.rows -%}
            {%- do existing.update({relation_name: columns.split(',')}) -%}
        {%- endfor %}
        begin;
        {%- set models = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') -%}
        {%- set sources = graph.sources.values() | selectattr('source_name', 'equalto', source_name) -%}
        {%- for node in (models | list) + (sources | list) if node.relation_name in existing -%}
            {%- if node.resource_type == 'source' %}
                comment on table {{ node.relation_name }} is {{ duckdb_escape_comment(node.description) }};
            {%- endif -%}
            {%- for name, column in node.columns.items() if name in existing[node.relation_name] %}
                comment on column {{ node.relation_name }}.{{ adapter.quote(name) }} is {{ duckdb_escape_comment(column.description) }};
            {%- endfor -%}
        {%- endfor %}
        commit;
    {%- endif -%}
{%- endmacro %}
