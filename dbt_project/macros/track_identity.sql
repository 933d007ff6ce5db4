{#- The text that names one song: its title and artists, lower-cased, with a separator that
    cannot occur in either. Rows with the same identity are the same track: the duplicate search
    (int_tracks_validated) and track_id (tracks) both hash it. -#}
{% macro track_identity() -%}
    lower(track_name) || chr(31) || lower(artist_names)
{%- endmacro %}
