{#- Spearman's rho is Pearson's r on average ranks (ties share the mean of their ranks). -#}

with

track_features as (

    select * from {{ ref('track_features') }}

),

numeric_features as (

    select
        log_streams,
        columns(* exclude (track_id, musical_key, mode, streams, log_streams, is_top_decile))::double
    from track_features
    where log_streams is not null

),

long_format as (

    unpivot numeric_features
    on columns(* exclude (log_streams))
    into name feature value feature_value

),

ranked as (

    select
        feature,
        feature_value,
        log_streams,
        rank() over (partition by feature order by feature_value)
        + (count(*) over (partition by feature, feature_value) - 1) / 2.0 as feature_rank,
        rank() over (partition by feature order by log_streams)
        + (count(*) over (partition by feature, log_streams) - 1) / 2.0 as log_streams_rank
    from long_format

),

correlations as (

    select
        feature,
        count(*) as n,
        corr(feature_value, log_streams) as pearson_r,
        corr(feature_rank, log_streams_rank) as spearman_rho
    from ranked
    group by feature

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
    from correlations

)

select * from with_intervals
order by abs(pearson_r) desc nulls last
