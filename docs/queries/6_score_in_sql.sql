-- Every song scored in SQL by the champion models (macros in schema ml, no Python), with the
-- champions' registry rows: the label is the probability cut at the classifier's threshold;
-- the streams interval is the regression champion's (90 % unless configured otherwise)
with

champion as (
    select
        task,
        config_name || ' v' || version as model,
        decision_threshold
    from ml.model_versions
    where is_champion
),

scored as (
    select
        t.track_id,
        ml.predict_log_streams(t) as predicted_log_streams,
        ml.predict_log_streams_interval(t) as log_streams_interval,
        ml.predict_top_decile_probability(t) as top_decile_probability
    from marts.track_features as t
)

select
    tracks.track_name,
    tracks.artist_names,
    tracks.streams,
    round(exp(scored.predicted_log_streams)) as predicted_streams,
    round(exp(scored.log_streams_interval.lower)) as predicted_streams_lower,
    round(exp(scored.log_streams_interval.upper)) as predicted_streams_upper,
    round(scored.top_decile_probability, 3) as top_decile_probability,
    scored.top_decile_probability
    >= classifier.decision_threshold as is_predicted_top_decile,
    regressor.model as regression_model,
    classifier.model as classification_model
from scored
inner join marts.tracks as tracks on scored.track_id = tracks.track_id
inner join champion as regressor on regressor.task = 'regression'
inner join champion as classifier on classifier.task = 'classification'
order by scored.predicted_log_streams desc, scored.track_id asc
limit 10;
