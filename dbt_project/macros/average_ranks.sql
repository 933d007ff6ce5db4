{#- A CTE `name`(ranked_value, average_rank, ...): the average rank of each distinct non-null
    value of `value_sql` over the track_features rows (ties share the mean of their positions).
    For each column in `where_present`, `average_rank_where_<column>` is the value's average
    rank over only the rows where that column is not null, from the same grouping and sort.
    One row per distinct value, so no sort of whole rows is needed. -#}
{% macro average_ranks(name, value_sql, where_present=[]) %}
    {{ name }} as (

    select
        ranked_value,
        {% for column in where_present %}
        sum(tracks_with_{{ column }}) over running
        - (tracks_with_{{ column }} - 1) / 2 as average_rank_where_{{ column }},
        {% endfor %}
        sum(tracks) over running - (tracks - 1) / 2 as average_rank
    from (
        select
            {{ value_sql }} as ranked_value,
            {% for column in where_present %}
            count({{ column }}) as tracks_with_{{ column }},
            {% endfor %}
            count(*) as tracks
        from track_features
        where {{ value_sql }} is not null
        group by ranked_value
    )
    window running as (order by ranked_value rows between unbounded preceding and current row)

)
{%- endmacro %}
