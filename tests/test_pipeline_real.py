"""The whole pipeline on the original Kaggle file (env SPOTIFY_REAL_CSV; required under CI)."""

import pipeline_checks as check


def test_953_raw_rows_are_clean_or_rejected_with_a_reason(real_run):
    check.assert_every_raw_row_accounted_for(real_run, raw_rows=953)
    rejected = check.query(real_run, """
        select reject_reason, track_name from audit.rejected_rows order by raw_row_number
    """)  # fmt: skip
    reasons = [reason for reason, _ in rejected]
    assert reasons.count("duplicate_track") == 4
    assert ("unparseable_number", "Love Grows (Where My Rosemary Goes)") in rejected
    assert ("implausible_streams", "Que Vuelvas") in rejected
    assert len(rejected) == 6


def test_real_run_predictions_runs_metrics_and_correlations(real_run):
    check.assert_predictions_for_every_feature_row_and_run(real_run)
    check.assert_runs_record_their_dataset(real_run)
    check.assert_metrics_and_baselines(real_run)
    check.assert_correlations_match_scipy(real_run)
    check.assert_importance_and_significance(real_run)


def test_real_correlations_agree_with_the_published_reference(real_run):
    pearson = dict(
        check.query(real_run, "select feature, pearson_r from marts.feature_correlations")
    )
    assert abs(pearson["bpm"]) < 0.1
    assert abs(pearson["danceability_pct"]) < 0.1
    assert pearson["in_spotify_playlists"] > 0.6
    assert -0.3 < pearson["released_year"] < -0.2
