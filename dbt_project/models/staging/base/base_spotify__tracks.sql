-- The raw CSV landed as it is, all text: the file is parsed once per build (in parallel),
-- and the table's insertion order is the file's row order (stg_spotify__tracks numbers it).
select * from {{ source('spotify', 'raw_tracks') }}
