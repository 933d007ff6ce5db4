{#- Raw Kaggle column name -> clean name, for every numeric column. One list, used by
    staging (to cast) and by the validation model (to report what failed to parse). -#}
{% macro spotify_numeric_columns() -%}
    {{ return({
        'artist_count': 'artist_count',
        'released_year': 'released_year',
        'released_month': 'released_month',
        'released_day': 'released_day',
        'in_spotify_playlists': 'in_spotify_playlists',
        'in_spotify_charts': 'in_spotify_charts',
        'streams': 'streams',
        'in_apple_playlists': 'in_apple_playlists',
        'in_apple_charts': 'in_apple_charts',
        'in_deezer_playlists': 'in_deezer_playlists',
        'in_deezer_charts': 'in_deezer_charts',
        'in_shazam_charts': 'in_shazam_charts',
        'bpm': 'bpm',
        'danceability_%': 'danceability_pct',
        'valence_%': 'valence_pct',
        'energy_%': 'energy_pct',
        'acousticness_%': 'acousticness_pct',
        'instrumentalness_%': 'instrumentalness_pct',
        'liveness_%': 'liveness_pct',
        'speechiness_%': 'speechiness_pct',
    }) }}
{%- endmacro %}

{% macro spotify_percentage_columns() -%}
    {{ return([
        'danceability_pct', 'valence_pct', 'energy_pct', 'acousticness_pct',
        'instrumentalness_pct', 'liveness_pct', 'speechiness_pct',
    ]) }}
{%- endmacro %}

{% macro spotify_count_columns() -%}
    {{ return([
        'in_spotify_playlists', 'in_spotify_charts', 'in_apple_playlists', 'in_apple_charts',
        'in_deezer_playlists', 'in_deezer_charts', 'in_shazam_charts',
    ]) }}
{%- endmacro %}
