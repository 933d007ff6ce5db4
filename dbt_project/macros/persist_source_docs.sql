{% macro persist_source_docs(source_name) -%}
    {{ return(adapter.dispatch('persist_source_docs')(source_name)) }}
{%- endmacro %}

{#- Spark comments columns of Delta tables only; the ml tables are not commented there. -#}
{% macro default__persist_source_docs(source_name) -%}
{%- endmacro %}

{% macro duckdb__persist_source_docs(source_name) -%}
    {#- persist_docs comments the models dbt builds, not its sources: the tables of
        `source_name` get their yml descriptions as DuckDB comments too. dbt leaves an
        on-run-end hook's transaction open (dbt-labs/dbt-core#2495), hence the commit. -#}
    {%- if execute -%}
        {%- for source in graph.sources.values() if source.source_name == source_name -%}
            {%- set relation = adapter.get_relation(source.database, source.schema, source.name) -%}
            {%- if relation is not none -%}
                {{ alter_relation_comment(relation, source.description) }}
                {{ alter_column_comment(relation, source.columns) }}
            {%- endif -%}
        {%- endfor %}
        commit;
    {%- endif -%}
{%- endmacro %}
