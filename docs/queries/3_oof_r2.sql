-- Out-of-fold R² of every regression run, recomputed from its predictions
with regression as (
    select
        run_id,
        config_name,
        actual_log_streams,
        predicted_log_streams,
        avg(actual_log_streams) over (partition by run_id) as mean_actual
    from ml.predictions
    where task = 'regression'
)

select
    run_id,
    config_name,
    1 - sum((actual_log_streams - predicted_log_streams) ^ 2)
    / sum((actual_log_streams - mean_actual) ^ 2) as oof_r2
from regression
group by run_id, config_name
order by run_id;
