-- The latest run of each config: its main score (R² or PR-AUC, mean and sd over the folds) and
-- the reference model's on the same folds
select
    r.config_name,
    r.feature_set,
    m.metric,
    round(m.value, 3) as score,
    round(m.std, 3) as sd,
    round(b.value, 3) as reference
from ml.runs as r
inner join ml.run_metrics as m on r.run_id = m.run_id and m.metric in ('r2', 'pr_auc')
inner join ml.run_metrics as b on r.run_id = b.run_id and b.metric = 'baseline_' || m.metric
qualify row_number() over (partition by r.config_name order by r.created_at desc) = 1
order by r.task asc, score desc;
