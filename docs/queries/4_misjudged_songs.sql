-- The songs the latest full_regression run misjudges most (honest residuals: out of fold)
select
    t.track_name,
    t.artist_names,
    t.released_date,
    t.streams,
    round(p.predicted_streams) as predicted,
    round(p.actual_log_streams - p.predicted_log_streams, 2) as residual
from ml.predictions as p
inner join marts.tracks as t on p.track_id = t.track_id
where
    p.run_id = (
        select run_id from ml.runs
        where config_name = 'full_regression'
        order by created_at desc limit 1
    )
order by abs(residual) desc, t.track_id
limit 10;
