"""Seeded generator of synthetic songs in the raw Kaggle file's exact format and quirks.

DuckDB computes every row from its row number and the seed (hash-based random numbers), so
any size is generated in constant memory and the same seed always gives the same bytes. The
bundled sample (warehouse/sample/) is this generator's output for the default seed and size;
`cli.py make-sample` rewrites it byte for byte. The numbers are invented, but streams depend
on playlist counts and song age roughly as in the real file, so models learn something.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import duckdb

from ml.errors import UserError

DEFAULT_ROWS = 404
DEFAULT_SEED = 2023
SNAPSHOT_YEAR = 2023
KEYS = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
WORDS = [
    "Love", "Night", "Summer", "Fire", "Dance", "Heart", "Dream", "Rain", "Gold", "Moon",
    "Corazón", "Niña", "Mañana", "Café", "Señorita", "Été", "Noël", "Fiesta", "Baby", "Frï¿½ï¿½gil",
]  # fmt: skip
FIRST_NAMES = ["Ana", "Leo", "Zoé", "Mia", "Kai", "José", "Lía", "Max", "Noa", "Iván"]
LAST_NAMES = ["Rivera", "Stone", "Müller", "Kim", "Björk", "Santos", "Lee", "Núñez", "Gray"]
CORRUPTED_STREAMS = "BPM110KeyAModeMajorDanceability53Valence75Energy69Acousticness7"

# The real file's quirks, placed at fixed offsets in every block of 953 rows (its size), so
# every block of 953 (and every file of at least MIN_ROWS rows) has them at the real rates:
# one corrupted and one implausible `streams` cell and four duplicated tracks per block.
BLOCK_ROWS = 953
CORRUPTED_OFFSET = 19
IMPLAUSIBLE_OFFSET = 11
DUPLICATE_OFFSETS = (8, 14, 23, 29)
DUPLICATE_DISTANCE = 5
MIN_ROWS = max(CORRUPTED_OFFSET, IMPLAUSIBLE_OFFSET, *DUPLICATE_OFFSETS) + 1


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + "]"


GENERATOR_MACROS = """
create or replace temp macro uniform_draw(i, seed, salt) as
    least(
        (hash(xor(i::ubigint, hash(seed, salt)))::double + 0.5) / 1.8446744073709552e19,
        0.9999999999
    );
create or replace temp macro normal_draw(i, seed, salt) as
    sqrt(-2 * ln(uniform_draw(i, seed, salt || ':a')))
    * cos(2 * pi() * uniform_draw(i, seed, salt || ':b'));
create or replace temp macro pick(items, i, seed, salt) as
    items[1 + floor(len(items) * uniform_draw(i, seed, salt))::integer];
create or replace temp macro clamp(value, low, high) as least(greatest(value, low), high);
"""


def generator_sql(rows: int, seed: int) -> str:
    """One SELECT that yields `rows` raw rows (all text, in RAW_COLUMNS order).

    Needs GENERATOR_MACROS. A duplicate row repeats an earlier track (same track_index),
    with fewer streams, as the real file's duplicates do.
    """
    words, firsts, lasts, keys = map(_sql_list, (WORDS, FIRST_NAMES, LAST_NAMES, KEYS))
    duplicate_offsets = ", ".join(str(offset) for offset in DUPLICATE_OFFSETS)
    artist_names = ", ".join(
        f"case when artist_count > {credited} then pick({firsts}, track_index, {seed}, "
        f"'first{credited}') || ' ' || pick({lasts}, track_index, {seed}, 'last{credited}') end"
        for credited in range(4)
    )
    return f"""
with

positions as (
    select
        range as row_index,
        range % {BLOCK_ROWS} as block_offset,
        range % {BLOCK_ROWS} in ({duplicate_offsets}) as is_duplicate,
        case when range % {BLOCK_ROWS} in ({duplicate_offsets})
            then range - {DUPLICATE_DISTANCE} else range end as track_index
    from range({rows})
),

released as (
    select
        *,
        uniform_draw(track_index, {seed}, 'recent') < 0.6 as is_recent,
        case when uniform_draw(track_index, {seed}, 'recent') < 0.6
            then 2022 + floor(2 * uniform_draw(track_index, {seed}, 'year'))
            else 1970 + floor(52 * uniform_draw(track_index, {seed}, 'year'))
        end::integer as released_year
    from positions
),

popularity as (
    select
        *,
        {SNAPSHOT_YEAR} - released_year as age_years,
        clamp(exp(6.3 + 0.09 * least({SNAPSHOT_YEAR} - released_year, 25)
            + normal_draw(track_index, {seed}, 'playlists')), 30, 60000)::integer
            as spotify_playlists
    from released
),

streamed as (
    select
        *,
        14.2 + 0.75 * ln(spotify_playlists) - 0.01 * age_years
            + 0.45 * normal_draw(track_index, {seed}, 'streams') as log_streams
    from popularity
),

charted as (
    select
        *,
        greatest(is_recent::integer * 60 + 20 * (log_streams - 19.0)
            + 30 * normal_draw(track_index, {seed}, 'charts'), 0) as chart_strength
    from streamed
),

generated as (
    select
        *,
        concat_ws(' ',
            pick({words}, track_index, {seed}, 'word1'),
            case when uniform_draw(track_index, {seed}, 'words') >= 1 / 3
                then pick({words}, track_index, {seed}, 'word2') end,
            case when uniform_draw(track_index, {seed}, 'words') >= 2 / 3
                then pick({words}, track_index, {seed}, 'word3') end,
            (track_index + 1)::varchar
        ) as track_name,
        case when uniform_draw(track_index, {seed}, 'solo') < 0.7 then 1
            else 2 + floor(3 * uniform_draw(track_index, {seed}, 'artists'))::integer
        end as artist_count,
        case when released_year = {SNAPSHOT_YEAR}
            then 1 + floor(7 * uniform_draw(track_index, {seed}, 'month'))
            else 1 + floor(12 * uniform_draw(track_index, {seed}, 'month'))
        end::integer as released_month,
        1 + floor(28 * uniform_draw(track_index, {seed}, 'day'))::integer as released_day,
        exp(log_streams)::bigint as streams
    from charted
)

select
    track_name,
    concat_ws(', ', {artist_names}) as "artist(s)_name",
    artist_count::varchar as artist_count,
    released_year::varchar as released_year,
    released_month::varchar as released_month,
    released_day::varchar as released_day,
    case when block_offset = {IMPLAUSIBLE_OFFSET} then '763'
        else spotify_playlists::varchar end as in_spotify_playlists,
    case when uniform_draw(track_index, {seed}, 'spotify_charts') < 0.5 then 0
        else chart_strength end::integer::varchar as in_spotify_charts,
    case
        when block_offset = {CORRUPTED_OFFSET} then '{CORRUPTED_STREAMS}'
        when block_offset = {IMPLAUSIBLE_OFFSET} then '2762'
        when is_duplicate then (streams - 1000 * (1 + row_index % 3))::varchar
        else streams::varchar
    end as streams,
    least(spotify_playlists * (0.01 + 0.04 * uniform_draw(track_index, {seed}, 'apple')), 700)
        ::integer::varchar as in_apple_playlists,
    least(chart_strength * (0.5 + 2 * uniform_draw(track_index, {seed}, 'apple_charts')), 275)
        ::integer::varchar as in_apple_charts,
    format('{{:,}}', least(spotify_playlists
        * (0.02 + 0.18 * uniform_draw(track_index, {seed}, 'deezer')), 12000)::integer)
        as in_deezer_playlists,
    case when uniform_draw(track_index, {seed}, 'deezer_charts') < 0.6 then 0
        else chart_strength / 8 end::integer::varchar as in_deezer_charts,
    case
        when uniform_draw(track_index, {seed}, 'shazam_missing') < 0.05 then null
        when uniform_draw(track_index, {seed}, 'shazam_charts') < 0.4 then '0'
        else format('{{:,}}', (chart_strength
            * (1 + 7 * uniform_draw(track_index, {seed}, 'shazam')))::integer)
    end as in_shazam_charts,
    clamp(122 + 28 * normal_draw(track_index, {seed}, 'bpm'), 65, 206)::integer::varchar as bpm,
    case when uniform_draw(track_index, {seed}, 'key_missing') >= 0.1
        then pick({keys}, track_index, {seed}, 'key') end as "key",
    case when uniform_draw(track_index, {seed}, 'mode') < 0.55 then 'Major' else 'Minor' end
        as "mode",
    clamp(67 + 14 * normal_draw(track_index, {seed}, 'danceability'), 23, 96)
        ::integer::varchar as "danceability_%",
    clamp(51 + 23 * normal_draw(track_index, {seed}, 'valence'), 4, 97)
        ::integer::varchar as "valence_%",
    clamp(64 + 16 * normal_draw(track_index, {seed}, 'energy'), 9, 97)
        ::integer::varchar as "energy_%",
    least(-27 * ln(uniform_draw(track_index, {seed}, 'acousticness')), 97)
        ::integer::varchar as "acousticness_%",
    case when uniform_draw(track_index, {seed}, 'instrumental') < 0.9 then 0
        else 1 + floor(90 * uniform_draw(track_index, {seed}, 'instrumentalness'))
    end::integer::varchar as "instrumentalness_%",
    clamp(exp(2.7 + 0.55 * normal_draw(track_index, {seed}, 'liveness')), 3, 97)
        ::integer::varchar as "liveness_%",
    clamp(exp(1.9 + 0.7 * normal_draw(track_index, {seed}, 'speechiness')), 2, 64)
        ::integer::varchar as "speechiness_%"
from generated
"""


def _transcode_to_latin1(utf8_path: Path, path: Path) -> None:
    """The raw file is latin-1; DuckDB writes UTF-8. Re-encode block by block (constant memory)."""
    with (
        utf8_path.open("r", encoding="utf-8", newline="") as source,
        path.open("w", encoding="latin-1", newline="") as target,
    ):
        for block in iter(lambda: source.read(1 << 22), ""):
            target.write(block)


def write_sample(
    path: Path,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] = lambda message: None,
) -> int:
    """Write `rows` data rows as the raw file is: latin-1, CRLF, minimal quoting."""
    if rows < MIN_ROWS:
        raise UserError(f"rows must be at least {MIN_ROWS} to hold every quirk, got {rows}")
    progress(f"generating {rows:,} rows -> {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    utf8_path = path.with_name(f".{path.name}.utf8-{os.getpid()}")
    try:
        copy_query_to_csv(GENERATOR_MACROS, generator_sql(rows, seed), utf8_path)
        _transcode_to_latin1(utf8_path, path)
    finally:
        utf8_path.unlink(missing_ok=True)
    return rows


def copy_query_to_csv(setup_sql: str, query: str, path: Path, memory_limit: str = "1GB") -> None:
    """Stream a query's rows into a UTF-8 CSV (CRLF, header, minimal quoting) in an in-memory
    DuckDB; `setup_sql` runs first (e.g. macros). Order is kept, memory stays bounded."""
    connection = duckdb.connect(config={"memory_limit": memory_limit})
    try:
        connection.execute("set enable_progress_bar = false")
        connection.execute(setup_sql)
        target = str(path).replace("'", "''")
        connection.execute(
            f"copy ({query}) to '{target}' (format csv, header, delimiter ',', quote '\"', "
            "comment '', new_line '\r\n')"
        )
    finally:
        connection.close()
