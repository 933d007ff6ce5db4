-- The latest full_classification run: hits, misses and false alarms of the top-decile label
select
    actual_label,
    predicted_label,
    count(*) as tracks,
    round(avg(predicted_probability), 2) as mean_p
from ml.predictions
where
    run_id = (
        select run_id from ml.runs
        where config_name = 'full_classification'
        order by created_at desc limit 1
    )
group by all
order by all;
