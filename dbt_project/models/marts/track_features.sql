{%- set snapshot_date = "date '" ~ var('data_snapshot_date') ~ "'" -%}

with

tracks as (

    select * from {{ ref('tracks') }}

),

top_decile as (

    select {{ quantile_cont('streams', 0.9) }} as min_streams
    from tracks

),

track_features as (

    select
        ---------- ids
        tracks.track_id,

        ---------- audio
        tracks.bpm,
        tracks.danceability_pct,
        tracks.valence_pct,
        tracks.energy_pct,
        tracks.acousticness_pct,
        tracks.instrumentalness_pct,
        tracks.liveness_pct,
        tracks.speechiness_pct,

        ---------- song metadata
        tracks.artist_count,
        tracks.musical_key,
        tracks.mode,
        cast(year(tracks.released_date) as bigint) as released_year,
        cast(month(tracks.released_date) as bigint) as released_month,
        cast(day(tracks.released_date) as bigint) as released_day,
        cast({{ dbt.datediff('tracks.released_date', snapshot_date, 'day') }} as bigint)
            as days_since_release,

        ---------- platform counts (measured at the same time as streams)
        tracks.in_spotify_playlists,
        tracks.in_spotify_charts,
        tracks.in_apple_playlists,
        tracks.in_apple_charts,
        tracks.in_deezer_playlists,
        tracks.in_deezer_charts,
        tracks.in_shazam_charts,

        ---------- engineered as in the seed project
        cast(tracks.danceability_pct * tracks.energy_pct as double) / 100 as danceability_x_energy,
        cast(tracks.valence_pct * tracks.energy_pct as double) / 100 as valence_x_energy,
        cast(tracks.danceability_pct + tracks.energy_pct + tracks.valence_pct as double) / 3
            as mean_danceability_energy_valence,

        ---------- targets
        tracks.streams,
        ln(tracks.streams) as log_streams,
        tracks.streams >= top_decile.min_streams as is_top_decile

    from tracks
    cross join top_decile

)

select * from track_features
