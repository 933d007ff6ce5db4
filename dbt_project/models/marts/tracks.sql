with

staged as (

    select * from {{ ref('stg_spotify__tracks') }}

),

passed as (

    select raw_row_number from {{ ref('int_tracks_validated') }}
    where reject_reason is null

),

validated as (

    select staged.*
    from staged
    inner join passed
        on staged.raw_row_number = passed.raw_row_number

),

tracks as (

    select
        ---------- ids
        -- the first 60 bits of the md5 of the song's identity: a number is cheaper to store and join
        {{ hex_to_bigint('left(md5(' ~ track_identity() ~ '), 15)') }} as track_id,
        raw_row_number,

        ---------- text
        track_name,
        artist_names,
        musical_key,
        mode,

        ---------- numerics
        artist_count,
        bpm,
        danceability_pct,
        valence_pct,
        energy_pct,
        acousticness_pct,
        instrumentalness_pct,
        liveness_pct,
        speechiness_pct,
        in_spotify_playlists,
        in_spotify_charts,
        in_apple_playlists,
        in_apple_charts,
        in_deezer_playlists,
        in_deezer_charts,
        in_shazam_charts,
        streams,

        ---------- dates
        released_date

    from validated

)

select * from tracks
