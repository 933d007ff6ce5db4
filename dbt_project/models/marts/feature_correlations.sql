{#- Pearson's r and Spearman's rho of every numeric feature with log_streams, pairwise complete.
    Spearman's rho is Pearson's r on average ranks. Built to scale without sorting whole rows:
    ranks come per distinct value (macros/average_ranks.sql) and are joined back, then one
    pass aggregates every feature. log_streams is grouped and ranked once: the same pass ranks
    it over all rows and over the rows where each feature with missing values is present.
    The features are the numeric columns of track_features' contract, from dbt's graph, so the
    model compiles without the warehouse. Which features have missing values is asked of the
    built table when there is one (every build); without it (`dbt compile` on a fresh clone,
    sqlfluff) every feature is ranked as if it had some: the same results, more work. -#}
-- noqa: disable=LT02
{%- set not_features = ['track_id', 'streams', 'log_streams'] -%}
{%- set contract = graph.nodes.get('model.spotify.track_features') -%}
{%- set features = [] -%}
{%- for column in (contract.columns.values() if contract else []) -%}
    {%- if column.data_type in ('bigint', 'double') and column.name not in not_features -%}
        {%- do features.append(column.name) -%}
    {%- endif -%}
{%- endfor -%}
{%- set features_with_nulls = features | list -%}
{%- if execute and features and load_relation(ref('track_features')) is not none -%}
    {%- set null_count_sql -%}
        select
        {%- for feature in features %}
            count(*) - count({{ feature }}) as {{ feature }}{{ ',' if not loop.last }}
        {%- endfor %}
        from {{ ref('track_features') }}
        where log_streams is not null
    {%- endset -%}
    {%- set null_counts = run_query(null_count_sql) -%}
    {%- set features_with_nulls = [] -%}
    {%- for feature in features -%}
        {%- if (null_counts.columns[feature].values()[0] | int) > 0 -%}
            {%- do features_with_nulls.append(feature) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}
-- noqa: enable=LT02

with

track_features as {{ cte_hint('not materialized') }} (

    -- not materialized: each CTE below reads the few columns it needs (no wide copy)
    select * from {{ ref('track_features') }}
    where log_streams is not null

),

{{ average_ranks('log_streams_ranks', 'log_streams', where_present=features_with_nulls) }},

{% for feature in features -%}
{{ average_ranks(feature ~ '_ranks', 'cast(' ~ feature ~ ' as double)') }},

{% endfor -%}
ranked as (

    select
        {%- for feature in features %}
        cast(track_features.{{ feature }} as double) as {{ feature }},
        {{ feature }}_ranks.average_rank as {{ feature }}__rank,
        {%- if feature in features_with_nulls %}
        case
            when track_features.{{ feature }} is not null
                then log_streams_ranks.average_rank_where_{{ feature }}
        end as {{ feature }}__log_streams_rank,
        {%- else %}
        log_streams_ranks.average_rank as {{ feature }}__log_streams_rank,
        {%- endif %}
        {%- endfor %}
        track_features.log_streams
    from track_features
    left join log_streams_ranks
        on track_features.log_streams = log_streams_ranks.ranked_value
    {%- for feature in features %}
    left join {{ feature }}_ranks
        on cast(track_features.{{ feature }} as double) = {{ feature }}_ranks.ranked_value
    {%- endfor %}

),

correlations as (

    {%- set per_feature = [] -%}
    {%- for feature in features -%}
        {%- do per_feature.append(struct_of({
            'feature': "'" ~ feature ~ "'",
            'n': 'count(' ~ feature ~ ')',
            'pearson_r': 'corr(' ~ feature ~ ', log_streams)',
            'spearman_rho': 'corr(' ~ feature ~ '__rank, ' ~ feature ~ '__log_streams_rank)',
        })) -%}
    {%- endfor %}
    select {{ rows_of_structs(per_feature) }}
    from ranked

),

defined as (

    -- corr() gives NaN, not null, where a correlation is undefined: a feature constant over
    -- the tracks, or a single track.
    select
        feature,
        n,
        case when not isnan(pearson_r) then pearson_r end as pearson_r,
        case when not isnan(spearman_rho) then spearman_rho end as spearman_rho
    from correlations

),

with_intervals as (

    -- 95 % interval for r through Fisher's z transform, defined for n > 3 and |r| < 1.
    select
        feature,
        n,
        pearson_r,
        spearman_rho,
        case
            when n > 3 and abs(pearson_r) < 1
                then tanh(atanh(pearson_r) - 1.959964 / sqrt(n - 3))
        end as pearson_r_ci_lower,
        case
            when n > 3 and abs(pearson_r) < 1
                then tanh(atanh(pearson_r) + 1.959964 / sqrt(n - 3))
        end as pearson_r_ci_upper
    from defined

)

select * from with_intervals
order by abs(pearson_r) desc nulls last
