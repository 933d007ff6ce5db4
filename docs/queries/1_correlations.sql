-- What relates to streams? (the audio features barely do)
select
    feature,
    n,
    round(pearson_r, 3) as r,
    round(pearson_r_ci_lower, 3) as lo,
    round(pearson_r_ci_upper, 3) as hi,
    round(spearman_rho, 3) as rho
from marts.feature_correlations
order by abs(pearson_r) desc;
