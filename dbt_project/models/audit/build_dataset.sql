-- Which file this warehouse was built from: ml/ copies name and sha256 into every run.
with

raw_file as (

    select * from {{ source('spotify', 'raw_file') }}

),

row_counts as (

    select
        (select count(*) from {{ ref('stg_spotify__tracks') }}) as raw_rows,
        (select count(*) from {{ ref('tracks') }}) as clean_rows,
        (select count(*) from {{ ref('rejected_rows') }}) as rejected_rows

),

build_dataset as (

    select
        {{ file_name('raw_file.filename') }} as dataset_name,
        raw_file.filename as dataset_path,
        {#- cli.py passes the sha256 it computed while streaming the file; a plain `dbt build`
            leaves it unset and DuckDB hashes the file (holding the whole file in memory). Read
            at run time only, as macros/land_raw_file.sql says why. #}
        {% if execute and env_var('SPOTIFY_RAW_SHA256', '') -%}
            '{{ env_var('SPOTIFY_RAW_SHA256') }}' as dataset_sha256,
        {%- else -%}
            {{ sha256_hex('raw_file.content') }} as dataset_sha256,
        {%- endif %}
        raw_file.size as dataset_bytes,
        row_counts.raw_rows,
        row_counts.clean_rows,
        row_counts.rejected_rows,
        cast(current_timestamp as timestamp) as built_at
    from raw_file
    cross join row_counts

)

select * from build_dataset
