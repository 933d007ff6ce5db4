{#- A CTE `name`(ranked_value, average_rank): the average rank of each distinct non-null value
    of `value_sql` over the track_features rows where `where_sql` holds (ties share the mean
    of their positions). One row per distinct value, so no sort of whole rows is needed. -#}
{% macro average_ranks(name, value_sql, where_sql='true') %}
    {{ name }} as (

    select
        ranked_value,
        sum(tracks) over (order by ranked_value rows between unbounded preceding and current row)
        - (tracks - 1) / 2.0 as average_rank
    from (
        select
            {{ value_sql }} as ranked_value,
            count(*) as tracks
        from track_features
        where {{ value_sql }} is not null and {{ where_sql }}
        group by 1
    )

)
{%- endmacro %}
