{#- The SQL this run built the models `names` with, and every model they read, kept in
    ml.scoring_sql (dbt_project.yml, on-run-end): `cli.py predict` runs it again on new songs
    (ml/predict.py), so scoring computes features with the very SQL of the last build. One row
    per model, in build order. Written only after a run that built all of them, and only where
    the table exists (`cli.py build` creates it, ml/warehouse.py). -#}
{% macro keep_scoring_sql(names) -%}
    {{ return(adapter.dispatch('keep_scoring_sql')(names)) }}
{%- endmacro %}

{#- Spark keeps none: predict scores with the DuckDB build's SQL. -#}
{% macro default__keep_scoring_sql(names) -%}
{%- endmacro %}

{% macro duckdb__keep_scoring_sql(names) -%}
    {%- set table = '"ml"."scoring_sql"' -%}
    {%- if not execute or not run_query(
        "select 1 from duckdb_tables() where database_name = current_database()"
        ~ " and schema_name = 'ml' and table_name = 'scoring_sql'"
    ).rows -%}
        {{ return('') }}
    {%- endif -%}
    {%- set needed = {} -%}
    {%- for name in names -%}
        {%- do needed.update({'model.' ~ project_name ~ '.' ~ name: true}) -%}
    {%- endfor -%}
    {#- `results` come in the order the nodes finished, so each model after the models it
        reads: walked backwards, one pass reaches every model the scoring models read. -#}
    {%- set built = [] -%}
    {%- for result in results | reverse if result.node.unique_id in needed -%}
        {%- if result.status == 'success' -%}
            {%- do built.insert(0, result.node) -%}
        {%- endif -%}
        {%- for parent in result.node.depends_on.nodes if parent.startswith('model.') -%}
            {%- do needed.update({parent: true}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if built | length < needed | length -%}
        {{ return('') }}
    {%- endif %}
    begin;
    delete from {{ table }};
    insert into {{ table }} (position, model, relation, materialization, sql) values
    {%- for node in built %}
        (
            {{ loop.index0 }}, '{{ node.name }}', {{ scoring_text(node.relation_name) }},
            '{{ node.config.materialized }}', {{ scoring_text(node.compiled_code) }}
        ){{ ',' if not loop.last else ';' }}
    {%- endfor %}
    commit;
{%- endmacro %}

{% macro scoring_text(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}
